"""Fixtures of the deployment-file tests: pure file validation of deploy/,
no cloud, no network.  Run them with `make deploy-test`."""

import copy

import pytest

import deploylib


@pytest.fixture(scope="session")
def _cfn():
    return deploylib.load_cfn()


@pytest.fixture
def cfn(_cfn):
    """The CloudFormation template, a fresh copy per test (mutable)."""
    return copy.deepcopy(_cfn)


@pytest.fixture(scope="session")
def _k8s():
    return deploylib.load_k8s()


@pytest.fixture
def k8s(_k8s):
    """Every Kubernetes manifest document, a fresh copy per test."""
    return copy.deepcopy(_k8s)


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
