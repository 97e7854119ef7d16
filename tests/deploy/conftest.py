"""Fixtures of the deployment-file tests: pure file validation of deploy/,
no cloud, no network.  Run them with `make deploy-test`."""

import copy

import pytest

import deploylib


@pytest.fixture(scope="session")
def _cfn_raw():
    return deploylib.load_cfn()


@pytest.fixture
def cfn_raw(_cfn_raw):
    """The CloudFormation template as written (Conditions, Fn::If), a
    fresh copy per test (mutable)."""
    return copy.deepcopy(_cfn_raw)


@pytest.fixture
def cfn(_cfn_raw):
    """The template as CloudFormation renders it with the default
    parameters (SesPath nat), a fresh copy per test (mutable)."""
    return deploylib.cfn_resolve(_cfn_raw, deploylib.ECS_VARIANTS["nat"])


@pytest.fixture(params=["vpc-endpoint", "vpc-endpoint-existing"])
def cfn_vpce(request, _cfn_raw):
    """The template rendered for SesPath vpc-endpoint: once with the
    endpoint the stack makes, once with an existing one."""
    return deploylib.cfn_resolve(_cfn_raw,
                                 deploylib.ECS_VARIANTS[request.param])


@pytest.fixture(scope="session")
def _k8s():
    return deploylib.load_k8s()


@pytest.fixture
def k8s(_k8s):
    """Every Kubernetes manifest document, a fresh copy per test."""
    return copy.deepcopy(_k8s)


@pytest.fixture(scope="session")
def _k8s_vpce():
    return deploylib.render_kustomization(deploylib.K8S_VPCE_DIR)


@pytest.fixture
def k8s_vpce(_k8s_vpce):
    """The VPC endpoint overlay, rendered (base and overlay together), a
    fresh copy per test."""
    return copy.deepcopy(_k8s_vpce)


@pytest.fixture(scope="session")
def defaults():
    """DRAIN_TIMEOUT, IDLE_TIMEOUT, MAX_CONNS and the listen port the
    binary uses when a variable is not set (from --help, or from config.c
    when no binary has been built)."""
    return deploylib.help_defaults(deploylib.option_rows())


@pytest.fixture(scope="session")
def readme():
    return deploylib.DEPLOY_README.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def binary_help():
    """The built binary's --help text; fails when it is not built."""
    text = deploylib.help_from_binary()
    if text is None:
        pytest.fail(f"{deploylib.binary_path()} is not built: run make "
                    "first (make deploy-test and make test build it)")
    return text
