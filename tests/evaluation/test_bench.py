"""rec bench (rec.evaluation.bench, rec.evaluation.cli_bench) on tiny untrained models and generated images."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from rec.cli import main
from rec.errors import RecError
from rec.evaluation.bench import load_bench_images, parse_betas, parse_pairs, run_bench, threads
from rec.evaluation.bench_results import SamplerPair
from rec.evaluation.results import load_curve
from rec.evaluation.runner import EvalImage
from tests.evaluation.conftest import photo_like
from tests.helpers import FAST, install, tiny_model, tiny_variable_rate_model

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"
SMALL_IS = "is(bits=8):is(bits=8)"


@pytest.fixture(scope="module")
def images():
    return [EvalImage(f"im{i}.png", photo_like(i, 64, 96)) for i in range(2)]


@pytest.fixture(scope="module")
def run(images):
    return run_bench(images, [tiny_model(0), tiny_model(1, kind="pln")], [f"fast={FAST}", SMALL_IS], n_threads=1,
                     warmup=1, repeats=2)


def test_every_model_pair_and_image_is_measured_with_its_split(run, images):
    assert [s.pair.label for s in run.series] == ["fast", "IS(bits=8):IS(bits=8)"]
    assert len(run.records) == 2 * 2 * len(images)
    for r in run.records:
        assert [lv.name for lv in r.levels] == ["z2", "z1"]
        # the bits of the levels and the container add up to the file; the bound is the thesis's
        assert r.bpp == pytest.approx(8 * r.bytes / (64 * 96))
        assert sum(lv.bits for lv in r.levels) <= 8 * r.bytes
        assert r.kl_bits == pytest.approx(sum(lv.kl_bits for lv in r.levels))
        assert r.bound_bits == pytest.approx(r.kl_bits + 2 * math.log2(r.kl_bits + 1))
        for lv in r.levels:
            assert lv.bits == lv.index_bits + lv.side_bits + lv.outlier_bits
            assert lv.bound_bits == pytest.approx(lv.kl_bits + 2 * math.log2(lv.kl_bits + 1))
            assert lv.groups is not None and lv.groups >= 1 and lv.outliers is not None
            assert lv.encode_seconds > 0 and lv.decode_seconds > 0
        # the encode is split into networks and coding, each part within the whole
        assert r.analysis_seconds > 0 and r.prior_seconds > 0 and r.coding_seconds > 0
        assert r.network_seconds + r.coding_seconds <= r.encode_seconds
        assert r.coding_seconds == pytest.approx(sum(lv.encode_seconds for lv in r.levels))
        assert 0 < r.decode_coding_seconds + r.decode_network_seconds <= r.decode_seconds
        assert np.isfinite(r.psnr) and r.ms_ssim is None  # 64 px: too small for MS-SSIM


def test_the_distortion_guides_gradient_is_timed_with_the_encoders_networks(images):
    from tests.helpers import tiny_isokl_model

    guided = "importance(bits=8):budget(bits=8,margin=1,guide=0.5)"
    (r,) = run_bench(images[:1], [tiny_isokl_model()], [guided], n_threads=1, warmup=1, repeats=1).records
    assert r.guide_seconds > 0
    assert r.network_seconds == pytest.approx(r.analysis_seconds + r.prior_seconds + r.guide_seconds)
    assert r.network_seconds + r.coding_seconds <= r.encode_seconds


def test_the_bytes_measured_are_the_codecs(run, images):
    from rec.codec import compress

    r = next(r for r in run.records if r.pair == "fast" and r.model == "tiny-0" and r.image == "im0.png")
    data = compress(images[0].rgb, model=tiny_model(0), samplers=FAST, seed=0, verify=False)
    assert r.bytes == len(data) and r.kl_bits == pytest.approx(data.report.kl_bits)


def test_the_default_pair_is_each_models_own_at_each_beta(images):
    """No --samplers: what `rec encode` writes, the budget sampler on level 1 of an iso-KL model and the
    importance sampler on another model, each with the margin its schedule gives the β."""
    from rec.codec import compress
    from tests.helpers import tiny_isokl_model

    iso, other = tiny_isokl_model(0), tiny_variable_rate_model(0)
    run = run_bench(images[:1], [iso, other], None, betas=[0.5, 2.0], n_threads=1, warmup=0)
    (series,) = run.series
    assert series.pair.spec == "default" and series.pair.label.endswith("(default)")
    for r in run.records:
        net = iso if r.model == iso.name else other
        data = compress(images[0].rgb, model=net, seed=0, verify=False, rate=r.beta)
        assert r.bytes == len(data) and [lv.sampler for lv in r.levels] == [lv.sampler for lv in data.report.levels]
        assert r.levels[1].sampler.startswith("budget" if net is iso else "importance")


def test_json_csv_and_plot(run, tmp_path):
    paths = run.write(tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["bench-is-bits10-maxgroup8_gs-bits8-shards4.json", "bench-is-bits8_is-bits8.json", "bench.csv",
                     "bench.png", "bench.svg"]
    curve = load_curve(tmp_path / "bench-is-bits10-maxgroup8_gs-bits8-shards4.json")  # CompressAI format
    assert curve.name == "REC fast" and len(curve) == 2 and list(curve.bpp) == sorted(curve.bpp)
    assert curve.psnr is not None and curve.encoding_time is not None and curve.decoding_time is not None
    for key in ("kl_bpp", "bound_bpp", "bits_over_kl", "bits_over_bound", "encode_network_time", "encode_coding_time",
                "z2_bits", "z1_bits", "z1_kl_bits", "z1_bits_over_kl", "z1_bound_bits", "z1_groups", "z1_encode_time"):
        assert len(curve.extra[key]) == 2, key
    assert curve.meta["samplers"] == FAST and curve.meta["repeats"] == 2 and curve.meta["threads"]["torch"] == 1
    assert [len(p["images"]) for p in curve.meta["points"]] == [2, 2]
    assert {"levels", "encode_seconds", "coding_seconds"} <= set(curve.meta["points"][0]["images"][0])
    rows = (tmp_path / "bench.csv").read_text().splitlines()
    assert len(rows) == 1 + 8 and "z1_bits_over_kl" in rows[0]
    assert (tmp_path / "bench.png").read_bytes()[:8] == PNG
    assert (tmp_path / "bench.svg").read_text().lstrip().startswith("<?xml")


def test_pairs_betas_and_threads():
    default = SamplerPair.parse(None)
    assert default == SamplerPair.parse("default") and default.label.endswith("(default)") and default.slug
    assert SamplerPair.parse("IS-GS=importance(bits=16):greedy(bits=8)").label == "IS-GS"
    assert SamplerPair.parse("importance(bits=16):greedy(bits=8)").label == "IS(bits=16):GS(bits=8)"
    assert [p.label for p in parse_pairs(f"{FAST}; {SMALL_IS}")] == ["IS(bits=10,max_group=8):GS(bits=8,shards=4)",
                                                                   "IS(bits=8):IS(bits=8)"]
    with pytest.raises(RecError, match="twice"):
        parse_pairs(f"{SMALL_IS};importance(bits=8):is(bits=8)")  # one pair, two spellings
    with pytest.raises(RecError, match="its parameters: bits, max_group"):
        parse_pairs("is(bitz=3):is")
    assert parse_betas("0.1, 0.3") == [0.1, 0.3] and parse_betas(None) is None
    with pytest.raises(RecError):
        parse_betas("0,-1")
    import torch

    from rec.threads import worker_threads

    before = torch.get_num_threads(), worker_threads()
    with threads(1):
        assert torch.get_num_threads() == 1 and worker_threads() == 1  # the samplers' stripes too
    assert (torch.get_num_threads(), worker_threads()) == before
    with pytest.raises(RecError, match="at least 1"), threads(0):
        pass


def test_fixed_rate_model_ignores_betas_and_bad_arguments(images):
    said = []
    run = run_bench(images[:1], [tiny_model(2)], [SMALL_IS], betas=[0.1, 0.2], warmup=0, log=said.append)
    assert len(run.records) == 1 and run.records[0].beta is None and "betas ignored" in said[0]
    with pytest.raises(RecError, match="repeats"):
        run_bench(images, [tiny_model(2)], [SMALL_IS], repeats=0)
    with pytest.raises(RecError, match="distinct names"):
        run_bench(images, [tiny_model(2), tiny_model(2)], [SMALL_IS])


def test_cli_bench(tmp_path, empty_zoo, capsys):
    install(empty_zoo, "tiny", tiny_model(3))
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(2):
        Image.fromarray(photo_like(10 + i, 64, 80)).save(d / f"p{i}.png")
    out = tmp_path / "bench"
    argv = ["bench", str(d), "--models", "tiny", "--samplers", f"fast={FAST};{SMALL_IS}", "--threads", "1",
            "--warmup", "1", "--repeats", "1", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.count("| tiny | p") == 4 and "bits/KL" in text and "wrote" in text
    assert (out / "bench.png").exists() and (out / "bench.svg").exists()
    raw = json.loads((out / "bench-is-bits8_is-bits8.json").read_text())
    assert raw["meta"]["command"].startswith("rec bench ") and raw["results"]["bpp"][0] > 0
    assert main(["bench", str(d), "--models", "tiny", "--samplers", "is(nope=1):is", "--out", str(out)]) == 2
    assert "its parameters: bits" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "missing.png"), "--models", "tiny", "--out", str(out)]) == 2


def test_load_bench_images(tmp_path):
    Image.fromarray(photo_like(1, 32, 48)).save(tmp_path / "a.png")
    assert [im.name for im in load_bench_images([tmp_path / "a.png"])] == ["a.png"]
    with pytest.raises(RecError, match="share a name"):
        load_bench_images([tmp_path / "a.png", tmp_path])
