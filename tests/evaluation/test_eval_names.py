"""rec eval names its files and curves after everything that defines them (samplers, seed)."""

import numpy as np

from rec.codecs.rec import BUDGET_SAMPLERS, DEFAULT_SAMPLERS
from rec.evaluation.names import is_default_pair, pair_label, pair_slug, run_suffix
from rec.evaluation.results import load_curve
from rec.evaluation.runner import EvalImage, evaluate, write_results
from tests.conftest import smooth_image
from tests.helpers import tiny_model

A = "importance(bits=10,max_group=8):greedy(bits=8,shards=4)"
B = "is(bits=8):is(bits=8)"


def test_names_of_pairs():
    assert is_default_pair(None) and is_default_pair(" default ")
    # a pair spelled out is not the default, whose level-1 sampler and margin depend on the model and rate
    assert not is_default_pair(DEFAULT_SAMPLERS) and not is_default_pair(BUDGET_SAMPLERS)
    assert not is_default_pair(B)
    # two spellings of one pair (aliases, defaults given, spaces) have one name
    assert pair_slug("is(bits=13, max_group=256, margin=0, temper=8):importance(temper=8, bits=11)") == \
        pair_slug(DEFAULT_SAMPLERS)
    assert pair_label(BUDGET_SAMPLERS) == "IS(bits=13,temper=8):BS(bits=11)"  # the budget sampler at B = 11
    assert pair_label(A) == "IS(bits=10,max_group=8):GS(bits=8,shards=4)"
    assert pair_slug(A) == "is-bits10-maxgroup8_gs-bits8-shards4"
    assert pair_slug("is(bits=8):importance(bits=8,max_group=256)") == pair_slug(B)
    assert run_suffix(None, 0) == ("", "") and run_suffix("default", 0) == ("", "")
    assert run_suffix(DEFAULT_SAMPLERS, 0) == ("-is-bits13-temper8_is-temper8", ", IS(bits=13,temper=8):IS(temper=8)")
    assert run_suffix(None, 3) == ("-seed3", ", seed 3")
    assert run_suffix(B, 3) == ("-is-bits8_is-bits8-seed3", ", IS(bits=8):IS(bits=8), seed 3")


def test_runs_with_other_samplers_or_seeds_do_not_overwrite_each_other(tmp_path):
    images = [EvalImage("a", smooth_image(np.random.default_rng(0), 48, 64))]
    model = tiny_model(0)
    out = tmp_path / "out"
    written = []
    for samplers, seed in ((A, 0), (B, 0), (B, 5)):
        results = evaluate(images, ["rec"], models=[model], samplers=samplers, seed=seed, progress=False,
                           points_dir=out, log=lambda m: None)
        written += write_results(results, out)
    stems = ["rec-gamma-pln-is-bits10-maxgroup8_gs-bits8-shards4", "rec-gamma-pln-is-bits8_is-bits8",
             "rec-gamma-pln-is-bits8_is-bits8-seed5"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}{ext}" for s in stems
                                                           for ext in (".json", ".per_image.csv", ".points.jsonl"))
    names = [load_curve(out / f"{s}.json").name for s in stems]
    assert names == ["REC γ-PLN, IS(bits=10,max_group=8):GS(bits=8,shards=4)", "REC γ-PLN, IS(bits=8):IS(bits=8)",
                     "REC γ-PLN, IS(bits=8):IS(bits=8), seed 5"]
    seeds = [load_curve(out / f"{s}.json").meta["seed"] for s in stems]
    assert seeds == [0, 0, 5]
    # the default run keeps its plain name
    results = evaluate(images, ["rec"], models=[model], progress=False, log=lambda m: None)
    assert results[0].codec == "rec-gamma-pln" and results[0].name == "REC γ-PLN"
