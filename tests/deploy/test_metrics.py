"""Metrics in deploy/: the scrape settings of both deployments, the ECS
CloudWatch agent sidecar (off by default), and the alert rules, whose
expressions promtool checks and unit-tests and whose metric names
docs/metrics.md lists."""

import copy
import os
import shutil
import subprocess

import pytest
import yaml

import deploylib as d
import metricslib as m


@pytest.fixture(scope="module")
def table():
    return m.metric_names()


@pytest.fixture
def rules():
    return m.load_rules()


@pytest.fixture
def monitoring():
    return m.load_monitoring()


def _promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run tests/deps.sh "
                    "(Debian package prometheus)")
    return path


def promtool(rule_doc, tmp_path, *args):
    """promtool ARGS with the PrometheusRule's spec as rules.yaml (and the
    unit tests beside it); returns the completed process."""
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump(rule_doc["spec"]), encoding="utf-8")
    shutil.copy(m.ALERTS_TEST, tmp_path / "alerts_test.yaml")
    return subprocess.run([_promtool(), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_metric_table_lists_the_spec(table):
    assert len(table) >= 20
    assert table["ses_smtp_proxy_upstream_connect_duration_seconds"] == \
        "histogram"
    assert table["ses_smtp_proxy_sessions_active"] == "gauge"
    assert all(t in ("counter", "gauge", "histogram")
               for t in table.values())


def test_metric_table_refuses_a_repeated_row():
    doc = ("| name | type | labels | meaning |\n|---|---|---|---|\n"
           "| `ses_smtp_proxy_x` | gauge | | a |\n"
           "| `ses_smtp_proxy_x` | gauge | | b |\n")
    with pytest.raises(ValueError, match="repeated"):
        m.metric_table(doc)


def test_histogram_series_belong_to_their_family(table):
    name = "ses_smtp_proxy_session_duration_seconds"
    text = f"rate({name}_bucket[5m]) {name}_count ses_smtp_proxy_nope_sum"
    assert m.unknown_names(text, table) == ["ses_smtp_proxy_nope_sum"]


def test_kubernetes_scrape(k8s, monitoring):
    assert m.check_k8s_metrics(k8s, monitoring) == []


def test_ecs_sidecar(cfn_raw, table, defaults):
    assert m.check_ecs_metrics(cfn_raw, table, defaults) == []


def test_alerts_and_runbook_agree(rules, table, readme):
    assert m.check_alerts(rules, table, readme,
                          d.c_const("STALENESS_DAYS")) == []


def test_promtool_check_rules(rules, tmp_path):
    out = promtool(rules, tmp_path, "check", "rules", "rules.yaml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(m.alerts(rules))} rules found" in out.stdout


def test_promtool_check_rules_catches_a_broken_expression(rules, tmp_path):
    rules["spec"]["groups"][0]["rules"][0]["expr"] += " +"
    out = promtool(rules, tmp_path, "check", "rules", "rules.yaml")
    assert out.returncode != 0


def test_alerts_fire_as_the_runbook_says(rules, tmp_path):
    out = promtool(rules, tmp_path, "test", "rules", "alerts_test.yaml")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("alert,old,new", [
    ("SesSmtpProxySessionsNearLimit", "> 0.7", "> 0.8"),
    ("SesSmtpProxySesUnreachable", "== 0", "< 0"),
    ("SesSmtpProxyAllowlistStale", "30 * 86400", "35 * 86400"),
    ("SesSmtpProxyAddressesDenied", "[10m]", "[1m]"),
])
def test_alert_tests_catch_a_changed_rule(rules, tmp_path, alert, old, new):
    rule = m.alerts(rules)[alert]
    assert old in rule["expr"]
    rule["expr"] = rule["expr"].replace(old, new)
    out = promtool(rules, tmp_path, "test", "rules", "alerts_test.yaml")
    assert out.returncode != 0, out.stdout


def test_component_lists_every_manifest():
    with open(m.MONITORING_DIR / "kustomization.yaml",
              encoding="utf-8") as f:
        kus = yaml.safe_load(f)
    assert kus["kind"] == "Component"
    files = sorted(p.name for p in m.MONITORING_DIR.glob("*.yaml")
                   if p.name != "kustomization.yaml")
    assert sorted(kus["resources"]) == files
    # Off by default: the base does not turn the component on.
    assert "components" not in d.load_kustomization()


def test_kubectl_kustomize_with_the_component(tmp_path, k8s, monitoring):
    """An overlay that turns the component on renders the base and both
    monitoring objects in the relay's namespace (offline)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (optional)")
    base = os.path.relpath(d.K8S_DIR, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization", "resources": [base],
        "components": [os.path.join(base, "monitoring")]}), encoding="utf-8")
    env = dict(os.environ, KUBECONFIG=os.devnull)
    out = subprocess.run([kubectl, "kustomize", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rendered = [x for x in yaml.safe_load_all(out.stdout) if x]
    kinds = sorted(x["kind"] for x in rendered)
    assert kinds == sorted([x["kind"] for x in k8s + monitoring])
    for x in rendered:
        if x["kind"] in ("PodMonitor", "PrometheusRule"):
            assert x["metadata"]["namespace"] == "ses-smtp-proxy"


def test_sidecar_render_is_a_copy(cfn):
    """Rendering never changes the loaded template."""
    before = copy.deepcopy(cfn)
    d.cfn_resolve(cfn, {m.SIDECAR_PARAM: "true"})
    assert cfn == before
