"""Checkers for the metrics parts of deploy/: the scrape settings of both
deployments, the optional CloudWatch agent sidecar of the ECS template,
and the alert rules.

Like deploylib, pure file validation: each check_* function returns a list
of problems (empty: passed), and tests/deploy/test_mutations.py feeds each
one broken copies.  The metric names come from one place, docs/metrics.md's
table.
"""

import json
import re

import yaml

import deploylib as d

METRICS_DOC = d.REPO / "docs" / "metrics.md"
MONITORING_DIR = d.K8S_DIR / "monitoring"
RULES_FILE = MONITORING_DIR / "prometheusrule.yaml"
ALERTS_TEST = d.REPO / "tests" / "deploy" / "alerts_test.yaml"

METRICS_PATH = "/metrics"
SIDECAR_PARAM = "EnableMetricsSidecar"
# The agent image the sidecar may name: a private ECR copy (the tasks
# reach no other registry), pinned by tag or digest.
AGENT_IMAGE_OK = ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/"
                  "cloudwatch-agent:1.300062.0b1304")
AGENT_IMAGE_BAD = ("public.ecr.aws/cloudwatch-agent/cloudwatch-agent:"
                   "1.300062.0b1304",
                   "123456789012.dkr.ecr.eu-west-1.amazonaws.com/cwa")
# What the agent may do: write EMF records to its own log group.
AGENT_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream",
                 "logs:PutLogEvents"}
_NAME = re.compile(r"\bses_smtp_proxy_\w+")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# ---- the names -----------------------------------------------------------

def metric_table(markdown):
    """{name: type} of docs/metrics.md's table."""
    table = {}
    for row in d.markdown_table(markdown, ["name", "type", "labels",
                                           "meaning"]):
        m = re.fullmatch(r"`(ses_smtp_proxy_\w+)`", row[0])
        if not m or m.group(1) in table or \
                row[1] not in ("counter", "gauge", "histogram"):
            raise ValueError(f"bad or repeated metric row {row[:2]}")
        table[m.group(1)] = row[1]
    return table


def metric_names():
    return metric_table(METRICS_DOC.read_text(encoding="utf-8"))


def _family(name, table):
    """The family a sample name belongs to (a histogram's _bucket, _sum
    and _count are its own)."""
    for suffix in _HISTOGRAM_SUFFIXES:
        base = name[:-len(suffix)]
        if name.endswith(suffix) and table.get(base) == "histogram":
            return base
    return name


def unknown_names(text, table):
    """The ses_smtp_proxy_ names in ${text} that are not in ${table}."""
    return sorted({n for n in _NAME.findall(text)
                   if _family(n, table) not in table})


# ---- the alert rules -----------------------------------------------------

def load_rules(path=RULES_FILE):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=d._StrictLoader)


def alerts(rule_doc):
    """{alert name: rule} of a PrometheusRule."""
    return {r["alert"]: r for g in rule_doc["spec"]["groups"]
            for r in g["rules"] if "alert" in r}


def runbook_alarms(markdown):
    """deploy/README.md's alarm table: [(alarm, {metric names},
    alert name)]."""
    rows = []
    for cells in d.markdown_table(markdown, ["alarm", "metrics", "alert"]):
        m = re.fullmatch(r"`(\w+)`", cells[2])
        if not m:
            raise ValueError(f"bad alert cell {cells[2]!r}")
        rows.append((cells[0], set(_NAME.findall(cells[1])), m.group(1)))
    return rows


def check_alerts(rule_doc, table, readme, staleness_days):
    """The rules name only documented metrics; the README's alarm table
    and the rules name the same alerts and metrics; the numbers the rules
    share with the relay and the README agree."""
    p = []
    if rule_doc.get("apiVersion") != "monitoring.coreos.com/v1" or \
            rule_doc.get("kind") != "PrometheusRule":
        p.append("the rules file is not a monitoring.coreos.com/v1 "
                 "PrometheusRule")
    rules = alerts(rule_doc)
    for name, rule in rules.items():
        for bad in unknown_names(rule["expr"], table):
            p.append(f"{name} uses {bad}, which is not in docs/metrics.md")
    rows = runbook_alarms(readme)
    listed = {alert for _, _, alert in rows}
    for name in sorted(set(rules) - listed):
        p.append(f"{name} is not in deploy/README.md's alarm table")
    for alarm, names, alert in rows:
        if alert not in rules:
            p.append(f"deploy/README.md's {alarm!r} names {alert}, which "
                     "the rules file lacks")
            continue
        for n in sorted(names - set(_NAME.findall(rules[alert]["expr"]))):
            p.append(f"deploy/README.md's {alarm!r} names {n}, which "
                     f"{alert} does not use")
    stale = rules.get("SesSmtpProxyAllowlistStale", {}).get("expr", "")
    m = re.search(r">\s*(\d+)\s*\*\s*86400\b", stale)
    if not m or int(m.group(1)) != staleness_days:
        p.append(f"SesSmtpProxyAllowlistStale's threshold is not the "
                 f"relay's STALENESS_DAYS ({staleness_days} days)")
    near = rules.get("SesSmtpProxySessionsNearLimit", {}).get("expr", "")
    m = re.search(r"sessions_limit\)\s*>\s*(0\.\d+)", near)
    pct = re.search(r"`conns` above about (\d+) %", readme)
    if not m or not pct or round(float(m.group(1)) * 100) != \
            int(pct.group(1)):
        p.append("SesSmtpProxySessionsNearLimit's ratio is not the "
                 "share of MAX_CONNS that deploy/README.md's Scaling names")
    return p


# ---- Kubernetes ------------------------------------------------------------

def load_monitoring(directory=MONITORING_DIR):
    return d.load_k8s(directory)


def _health_port(env, p, where):
    try:
        return d.parse_addr_port(env.get("HEALTH_LISTEN") or "")
    except ValueError as e:
        p.append(f"{where} HEALTH_LISTEN: {e}")
        return None


def check_k8s_metrics(docs, monitoring):
    """The pods say where to scrape (annotations), the PodMonitor selects
    them on the health port, and the NetworkPolicy admits Prometheus to
    the health port and never to the SMTP port."""
    p = []
    dep = d.k8s_one(docs, "Deployment")
    tmpl = dep["spec"]["template"]["metadata"]
    labels = tmpl["labels"]
    c = d.k8s_container(docs)
    health = _health_port(d.k8s_env(docs), p, "Kubernetes")
    listen = d._listen_port(d.k8s_env(docs), {"LISTEN_PORT": 1587}, p,
                            "Kubernetes")
    ann = tmpl.get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true":
        p.append("the pods lack prometheus.io/scrape: \"true\"")
    if ann.get("prometheus.io/port") != str(health):
        p.append(f"prometheus.io/port {ann.get('prometheus.io/port')!r} is "
                 f"not HEALTH_LISTEN's port {health}")
    if ann.get("prometheus.io/path") != METRICS_PATH:
        p.append(f"prometheus.io/path {ann.get('prometheus.io/path')!r} is "
                 f"not {METRICS_PATH}")

    pm = d.k8s_one(monitoring, "PodMonitor")
    spec = pm["spec"]
    if not d._selects(spec.get("selector", {}).get("matchLabels"), labels):
        p.append("the PodMonitor does not select the pods")
    names = spec.get("namespaceSelector", {}).get("matchNames",
                                                  [pm["metadata"].get(
                                                      "namespace")])
    if dep["metadata"]["namespace"] not in names:
        p.append("the PodMonitor looks in another namespace than the pods'")
    eps = spec.get("podMetricsEndpoints", [])
    if not eps:
        p.append("the PodMonitor has no endpoint")
    for ep in eps:
        port = ep.get("port", ep.get("targetPort"))
        if d._named_port(c, port) != health:
            p.append(f"the PodMonitor scrapes port {port!r}, not the "
                     f"health port {health}")
        if ep.get("path", METRICS_PATH) != METRICS_PATH:
            p.append(f"the PodMonitor scrapes {ep.get('path')}, not "
                     f"{METRICS_PATH}")

    np = d.k8s_one(docs, "NetworkPolicy")
    scrape = False
    for rule in np["spec"].get("ingress", []):
        in_cluster = [f for f in rule.get("from", [])
                      if "namespaceSelector" in f or "podSelector" in f]
        ports = {q.get("port") for q in rule.get("ports", [])}
        if in_cluster and listen in ports:
            p.append(f"in-cluster sources {in_cluster} may reach the SMTP "
                     f"port {listen}, where a PROXY header is believed")
        if in_cluster and ports == {health}:
            scrape = True
    if not scrape:
        p.append("no NetworkPolicy rule admits Prometheus (a "
                 "namespaceSelector) to the health port alone")
    return p


# ---- ECS: the CloudWatch agent sidecar ------------------------------------

def _containers(t):
    return d.cfn_one(t, "AWS::ECS::TaskDefinition")[1]["Properties"][
        "ContainerDefinitions"]


def _sub_text(value):
    """The template of an Fn::Sub (or a plain string)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
        return value if isinstance(value, str) else value[0]
    return value if isinstance(value, str) else ""


def _only_in(on, off):
    return set(d.cfn_resources(on)) - set(d.cfn_resources(off))


def _image_problems(t, image):
    """The sidecar's image must be a parameter, empty by default, that
    admits only a pinned private ECR URI, and that a Rule requires when
    the sidecar is on: a public default would fail the task's start (the
    tasks reach ECR only), the proxy's container with it."""
    par = t["Parameters"].get(image.get("Ref"), {}) if d.is_ref(image) \
        else None
    if par is None:
        return [f"the sidecar's image {image!r} is not a parameter"]
    p = []
    if par.get("Default", "") != "":
        p.append("the sidecar's image parameter has a default, which the "
                 "tasks cannot pull")
    pattern = par.get("AllowedPattern", "")
    if not re.fullmatch(pattern, AGENT_IMAGE_OK) or any(
            re.fullmatch(pattern, bad) for bad in AGENT_IMAGE_BAD):
        p.append("the sidecar's image parameter admits more than a pinned "
                 "private ECR URI")
    name = image["Ref"]
    if not d.cfn_rule_failures(t, {SIDECAR_PARAM: "true", name: ""}) or \
            d.cfn_rule_failures(t, {SIDECAR_PARAM: "true",
                                    name: AGENT_IMAGE_OK}):
        p.append("no Rule requires the sidecar's image when the sidecar "
                 "is on")
    return p


def check_ecs_metrics(t, table, defaults):
    """Off (the default), the template deploys exactly as without the
    sidecar; on, it adds only the agent's container, its task role and its
    resources, and the agent scrapes the health port for names of
    docs/metrics.md, writing only to its own log group."""
    p = []
    par = t.get("Parameters", {}).get(SIDECAR_PARAM, {})
    if sorted(par.get("AllowedValues", [])) != ["false", "true"] or \
            par.get("Default") != "false":
        p.append(f"{SIDECAR_PARAM} is not a false|true parameter, false "
                 "by default")
        return p
    off = d.cfn_resolve(t, {})
    on = d.cfn_resolve(t, {SIDECAR_PARAM: "true"})
    off_c, on_c = _containers(off), _containers(on)
    off_td = d.cfn_one(off, "AWS::ECS::TaskDefinition")[1]["Properties"]
    on_td = d.cfn_one(on, "AWS::ECS::TaskDefinition")[1]["Properties"]
    if len(off_c) != 1:
        p.append(f"without {SIDECAR_PARAM} the task has {len(off_c)} "
                 "containers, not the proxy alone")
    if "TaskRoleArn" in off_td:
        p.append(f"without {SIDECAR_PARAM} the task has a task role")
    if len(on_c) != 2 or on_c[0] != off_c[0]:
        p.append(f"with {SIDECAR_PARAM} the task is not the same proxy "
                 "container plus one sidecar")
        return p
    added = _only_in(on, off)
    stripped = {k: v for k, v in on["Resources"].items() if k not in added}
    td_name = d.cfn_one(on, "AWS::ECS::TaskDefinition")[0]
    stripped[td_name] = {**stripped[td_name], "Properties": {
        k: v for k, v in on_td.items() if k != "TaskRoleArn"}}
    stripped[td_name]["Properties"]["ContainerDefinitions"] = off_c
    changed = sorted(k for k in set(stripped) | set(off["Resources"])
                     if stripped.get(k) != off["Resources"].get(k))
    if changed:
        p.append(f"{SIDECAR_PARAM} changes more than the sidecar, its task "
                 f"role and its own resources: {changed}")

    side = on_c[1]
    role = on_td.get("TaskRoleArn", {}).get("Fn::GetAtt", [None])[0] \
        if isinstance(on_td.get("TaskRoleArn"), dict) else None
    mine = _names(side, set()) | _names(on["Resources"].get(role), set())
    others = _names([v for k, v in off["Resources"].items()], set())
    for name in sorted(mine - others - added - {role}):
        if name in off["Resources"]:
            p.append(f"{name} serves only the sidecar but is deployed "
                     f"without {SIDECAR_PARAM}")
    if side.get("Essential") is not False:
        p.append("the sidecar is essential: its failure would stop the "
                 "proxy's task")
    p += _image_problems(t, side.get("Image"))
    if side.get("PortMappings"):
        p.append("the sidecar maps ports")
    caps = side.get("LinuxParameters", {}).get("Capabilities", {})
    if caps.get("Drop") != ["ALL"] or caps.get("Add") or \
            side.get("Privileged"):
        p.append("the sidecar does not drop ALL capabilities and add none")
    lc = side.get("LogConfiguration", {})
    group = lc.get("Options", {}).get("awslogs-group")
    if lc.get("LogDriver") != "awslogs" or not d.is_ref(group) or \
            group["Ref"] not in added:
        p.append("the sidecar's logs do not go to its own log group")
        group = None
    else:
        group = group["Ref"]
        if "RetentionInDays" not in on["Resources"][group]["Properties"]:
            p.append("the sidecar's log group has no retention")
    mem = d._int(side.get("Memory"), "the sidecar's Memory", p)
    env = d.ecs_env(on)
    conns = d._setting(env, "MAX_CONNS", defaults, p, "ECS")
    task = d._int(on_td.get("Memory"), "task memory", p)
    if None not in (mem, conns, task) and \
            d.memory_needed_mib(conns) + mem > task:
        p.append(f"task memory {task} MiB does not hold the proxy's "
                 f"{d.memory_needed_mib(conns):.0f} MiB and the sidecar's "
                 f"{mem} MiB")
    health = _health_port(env, p, "ECS")
    senv = {e["Name"]: e["Value"] for e in side.get("Environment", [])}
    jobs = _check_scrape(senv.get("PROMETHEUS_CONFIG_CONTENT"), health, p)
    _check_agent_config(senv.get("CW_CONFIG_CONTENT"), group, jobs, table, p)
    _check_task_role(on, on_td.get("TaskRoleArn"), added, group, p)
    return p


def _names(node, found):
    """The resources and parameters ${node} names: Ref, GetAtt, ${} of a
    Sub."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v[0])
            elif k == "Fn::Sub":
                found |= {x.split(".")[0] for x in re.findall(
                    r"\$\{([^}!]+)\}", _sub_text(node))}
            _names(v, found)
    elif isinstance(node, list):
        for v in node:
            _names(v, found)
    return found


def _check_scrape(text, health, p):
    """PROMETHEUS_CONFIG_CONTENT scrapes the health port in the task, on
    /metrics; returns its job names."""
    try:
        conf = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError as e:
        p.append(f"PROMETHEUS_CONFIG_CONTENT is not YAML: {e}")
        return set()
    jobs = (conf or {}).get("scrape_configs") or []
    if not jobs:
        p.append("PROMETHEUS_CONFIG_CONTENT has no scrape job")
    for job in jobs:
        if job.get("metrics_path", METRICS_PATH) != METRICS_PATH:
            p.append(f"scrape job {job.get('job_name')} reads "
                     f"{job.get('metrics_path')}, not {METRICS_PATH}")
        targets = [x for s in job.get("static_configs", [])
                   for x in s.get("targets", [])]
        want = {f"localhost:{health}", f"127.0.0.1:{health}"}
        if not targets or not set(targets) <= want:
            p.append(f"scrape job {job.get('job_name')} targets {targets}, "
                     f"not the task's own health port {health}")
    return {job.get("job_name") for job in jobs}


def _check_agent_config(value, group, jobs, table, p):
    """CW_CONFIG_CONTENT takes the scrape configuration from its variable,
    writes EMF to the sidecar's log group, and selects documented names of
    the scrape jobs."""
    text = _sub_text(value)
    try:
        conf = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", text))
        prom = conf["logs"]["metrics_collected"]["prometheus"]
    except (ValueError, KeyError, TypeError) as e:
        p.append(f"CW_CONFIG_CONTENT is not the agent's JSON with "
                 f"logs.metrics_collected.prometheus: {e!r}")
        return
    if prom.get("prometheus_config_path") != \
            "env:PROMETHEUS_CONFIG_CONTENT":
        p.append("the agent does not read PROMETHEUS_CONFIG_CONTENT")
    if group is not None and f'"log_group_name": "${{{group}}}"' not in text:
        p.append(f"the agent's EMF records do not go to {group}")
    decls = prom.get("emf_processor", {}).get("metric_declaration", [])
    if not decls:
        p.append("the agent declares no metric (emf_processor)")
    for decl in decls:
        matcher = re.compile(decl.get("label_matcher", ""))
        if decl.get("source_labels") != ["job"] or \
                not any(matcher.fullmatch(j or "") for j in jobs):
            p.append(f"metric_declaration {decl.get('metric_selectors')} "
                     "does not match the scrape job")
        for sel in decl.get("metric_selectors", []):
            m = re.fullmatch(r"\^(\w+)\$", sel)
            if not m or m.group(1) not in table:
                p.append(f"metric_selectors {sel!r} is not ^name$ of a "
                         "name in docs/metrics.md")


def _check_task_role(on, arn, added, group, p):
    """The task role exists only with the sidecar and may only write to
    the sidecar's log group."""
    if not (isinstance(arn, dict) and "Fn::GetAtt" in arn and
            arn["Fn::GetAtt"][0] in added):
        p.append(f"with {SIDECAR_PARAM} the task role {arn!r} is not a role "
                 "of the sidecar's own")
        return
    role = on["Resources"][arn["Fn::GetAtt"][0]]["Properties"]
    if role.get("ManagedPolicyArns"):
        p.append("the sidecar's task role has managed policies")
    for pol in role.get("Policies", []):
        for st in pol["PolicyDocument"]["Statement"]:
            acts = st.get("Action")
            acts = {acts} if isinstance(acts, str) else set(acts or [])
            if st.get("Effect") != "Allow" or not acts <= AGENT_ACTIONS:
                p.append(f"the sidecar's task role allows "
                         f"{sorted(acts - AGENT_ACTIONS)}: only "
                         f"{sorted(AGENT_ACTIONS)}")
            res = st.get("Resource")
            res = res if isinstance(res, list) else [res]
            for r in res:
                mine = group is not None and (
                    r == {"Fn::GetAtt": [group, "Arn"]} or
                    f"log-group:${{{group}}}" in _sub_text(r))
                if not mine:
                    p.append(f"the sidecar's task role reaches {r!r}, not "
                             "only its own log group")
