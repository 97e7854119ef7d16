"""pytest plumbing shared by tests/integration and tests/container: every
test is bounded in time, and fixtures can see whether the test failed."""
import signal

import pytest

PER_TEST_LIMIT_S = 120


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _time_limit():
    """Every test is bounded in time, whatever it waits for."""
    def expired(signum, frame):
        raise TimeoutError(f"test exceeded {PER_TEST_LIMIT_S}s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(PER_TEST_LIMIT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
