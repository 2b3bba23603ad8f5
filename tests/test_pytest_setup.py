"""The test suite's own safety net."""


def test_every_test_has_a_timeout(pytestconfig):
    """Issue 17: a hang must fail its test, not run to CI's limit (pytest-timeout, pyproject's [tool.pytest.ini_options])."""
    assert 0 < float(pytestconfig.getini("timeout") or 0) <= 600


def test_no_test_module_imports_another():
    """Shared builders live in tests/helpers.py (or a conftest), never in a test module that others import."""
    import ast
    from pathlib import Path

    offenders = []
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                    offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert offenders == []
