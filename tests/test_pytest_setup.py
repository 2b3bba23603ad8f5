"""The test suite's own safety net."""


def test_every_test_has_a_timeout(pytestconfig):
    """Issue 17: a hang must fail its test, not run to CI's limit (pytest-timeout, pyproject's [tool.pytest.ini_options])."""
    assert 0 < float(pytestconfig.getini("timeout") or 0) <= 600
