"""scripts/import_graph.py: the package's import graph has no cycle and no import that runs up a floor."""

from tests.helpers import load_script


def _graph():
    return load_script("import_graph")


def test_the_package_has_no_import_cycle():
    g = _graph()
    edges = g.edges()
    assert len(edges) > 100  # the graph was read (function-local imports included)
    assert any(e.local for e in edges)
    # importing rec.models.entropy runs rec/models/__init__.py: an edge to the package too
    assert {("rec.reference", "rec.models.entropy"), ("rec.reference", "rec.models")} <= {(e.source, e.target) for e in edges}
    assert g.cycles(edges) == []


def test_no_module_imports_from_a_higher_floor():
    g = _graph()
    assert [f"{e.source}:{e.line} -> {e.target}" for e in g.upward(g.edges())] == []


def test_every_module_is_on_a_floor_and_the_detectors_see_what_they_should():
    g = _graph()
    known = g.modules()
    for name in known:
        g.floor(name)  # KeyError for a module no floor names
    assert g.floor("rec.errors") < g.floor("rec.samplers.base") < g.floor("rec.models.zoo") < g.floor("rec.codecs.rec")
    assert g.floor("rec.codecs.rec") < g.floor("rec.training.loop") < g.floor("rec.evaluation.runner") < g.floor("rec.cli")
    loop = [g.Edge("rec.a", "rec.b", 1, False), g.Edge("rec.b", "rec.c", 1, True), g.Edge("rec.c", "rec.a", 1, False),
            g.Edge("rec.c", "rec.d", 1, False)]
    assert g.cycles(loop) == [["rec.a", "rec.b", "rec.c"]]
    up = g.Edge("rec.codecs.rec", "rec.evaluation.runner", 3, True)
    assert g.upward([up, g.Edge("rec.cli", "rec.errors", 1, False)]) == [up]
