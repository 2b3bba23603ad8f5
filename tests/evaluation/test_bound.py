"""rec.evaluation.bound: theoretical / KL / actual points of rec eval curves, and the ideal curve."""

import math

import pytest

from rec.errors import RecError
from rec.evaluation.bound import SPAN_KL_BPP, bound_points, ideal_curve, load_rec_curves, within_span
from rec.evaluation.results import RDCurve, save_curve
from tests.helpers import rec_curve


def test_points_properties():
    points = bound_points(rec_curve())
    assert [p.model for p in points] == ["m0", "m1", "m2"]
    for p in points:
        assert p.bound_bpp >= p.kl_bpp and p.bpp_over_kl == pytest.approx(1.4)
        assert p.bpp_over_bound == pytest.approx(p.bpp / p.bound_bpp) and p.bpp_over_bound < 1.4
        assert p.psnr_gap == pytest.approx(-0.05)
        assert p.ms_ssim_db_gap < 0 and p.ideal_ms_ssim_db == pytest.approx(-10 * math.log10(1 - (0.901 + 0.05 * p.kl_bpp)))


def test_points_without_ms_ssim_or_model_names():
    c = rec_curve()
    bare = RDCurve(name="x", bpp=c.bpp, psnr=c.psnr, extra={k: c.extra[k] for k in ("kl_bpp", "bound_bpp", "ideal_psnr")})
    points = bound_points(bare)
    assert [p.model for p in points] == ["point 0", "point 1", "point 2"]
    assert points[0].ms_ssim_db is None and points[0].ms_ssim_db_gap is None
    with pytest.raises(RecError, match="kl_bpp"):
        bound_points(RDCurve(name="jpeg", bpp=[1.0], psnr=[30]))


def test_ideal_curve():
    c = rec_curve()
    ideal = ideal_curve(c)
    assert ideal.bpp == c.extra["kl_bpp"] and ideal.psnr == c.extra["ideal_psnr"] and ideal.ms_ssim == c.extra["ideal_ms_ssim"]
    assert ideal.name == "REC γ-PLN (ideal, kl_bpp)"
    assert ideal_curve(c, "bound_bpp").bpp == c.extra["bound_bpp"]
    with pytest.raises(RecError, match="rate must be"):
        ideal_curve(c, "bpp")


def test_within_span_keeps_the_points_up_to_the_span():
    c = rec_curve(kl=(0.2, 0.5, 1.0, 1.6))
    sub = within_span(c)
    assert len(sub) == 3 and sub.extra["kl_bpp"] == (0.2, 0.5, 1.0) and sub.bpp == c.bpp[:3] and sub.psnr == c.psnr[:3]
    assert sub.extra["ideal_ms_ssim"] == c.extra["ideal_ms_ssim"][:3] and sub.name == f"REC γ-PLN, KL ≤ {SPAN_KL_BPP} bpp"
    assert within_span(rec_curve(kl=(0.2, 0.5, 1.0))) is None  # nothing left out
    assert within_span(rec_curve(kl=(0.2, 1.5, 1.6))) is None  # one point is no curve


def test_load_rec_curves(tmp_path):
    save_curve(rec_curve("REC PLN"), tmp_path / "rec-pln.json")
    save_curve(rec_curve(), tmp_path / "rec-gamma-pln.json")
    save_curve(RDCurve(name="JPEG", bpp=[1.0], psnr=[30]), tmp_path / "jpeg.json")
    assert [p.name for p, _ in load_rec_curves(tmp_path)] == ["rec-gamma-pln.json", "rec-pln.json"]
    with pytest.raises(RecError, match="no such directory"):
        load_rec_curves(tmp_path / "missing")
