"""The numbers agree: timeouts, descriptors, memory, ports, client
networks, across the deployment files and with the binary."""

import deploylib as d


def test_ecs_numbers(cfn, defaults):
    assert d.check_ecs_numbers(cfn, defaults) == []


def test_kubernetes_numbers(k8s, defaults):
    assert d.check_k8s_numbers(k8s, defaults) == []


def test_ecs_and_kubernetes_set_the_same_proxy(cfn, k8s):
    """Both deployments give the proxy the same settings, but for the
    region and the client networks, which are the operator's."""
    ecs = {k: v for k, v in d.ecs_env(cfn).items()
           if k not in ("SES_REGION", "ALLOW_CLIENTS")}
    kube = {k: v for k, v in d.k8s_env(k8s).items()
            if k not in ("SES_REGION", "ALLOW_CLIENTS")}
    assert ecs == kube


def test_every_variable_is_one_the_binary_knows(cfn, k8s, binary_help):
    known = d.help_options(d.help_rows(binary_help))
    used = set(d.ecs_env(cfn)) | set(d.k8s_env(k8s))
    assert d.check_env_names(used, known) == []


def test_binary_and_source_agree_on_the_defaults(binary_help):
    """The built binary is not stale: its --help has config.c's defaults."""
    assert d.help_defaults(d.help_rows(binary_help)) == \
        d.help_defaults(d.options_from_source())


def test_the_health_variables_exist(binary_help):
    """The deployments depend on these two; their flags must exist."""
    known = d.help_options(d.help_rows(binary_help))
    assert known["PROXY_PROTOCOL"][0] == "--proxy-protocol"
    assert known["HEALTH_LISTEN"][0] == "--health-listen"
