import numpy as np
import pytest

from rec.errors import RecError
from rec.evaluation.bdrate import bd_metrics, bd_psnr, bd_rate

# Example data of the FAU `bjontegaard` package README (x265 at two presets).
RATE_A = [9487.76, 4593.60, 2486.44, 1358.24]
PSNR_A = [40.037, 38.615, 36.845, 34.851]
RATE_T = [9787.80, 4469.00, 2451.52, 1356.24]
PSNR_T = [40.121, 38.651, 36.970, 34.987]


def test_known_values_match_reference_implementation():
    # Reference: bjontegaard 1.3.0 (which reproduces the JVET-T2010 Excel sheet),
    # bd_rate/bd_psnr(..., method="pchip" / "cubic").
    assert bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T) == pytest.approx(-4.417485350589045, abs=1e-9)
    assert bd_psnr(RATE_A, PSNR_A, RATE_T, PSNR_T) == pytest.approx(0.11969278542479489, abs=1e-9)
    assert bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T, "polynomial") == pytest.approx(-4.420462706125383, abs=1e-9)
    assert bd_psnr(RATE_A, PSNR_A, RATE_T, PSNR_T, "polynomial") == pytest.approx(0.12040941911451103, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "polynomial"])
def test_curve_against_itself_is_zero(method):
    assert bd_rate(RATE_A, PSNR_A, RATE_A, PSNR_A, method) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(RATE_A, PSNR_A, RATE_A, PSNR_A, method) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method", ["pchip", "polynomial"])
def test_half_rate_is_minus_fifty_percent(method):
    half = [r / 2 for r in RATE_A]
    assert abs(bd_rate(RATE_A, PSNR_A, half, PSNR_A, method) - (-50.0)) < 1e-9
    assert abs(bd_rate(half, PSNR_A, RATE_A, PSNR_A, method) - 100.0) < 1e-9


def test_constant_quality_shift_is_bd_psnr():
    shifted = [p + 0.5 for p in PSNR_A]
    assert bd_psnr(RATE_A, PSNR_A, RATE_A, shifted) == pytest.approx(0.5, abs=1e-12)
    assert bd_rate(RATE_A, PSNR_A, RATE_A, shifted) < 0


def test_order_of_points_does_not_matter_and_metrics_agree():
    r = bd_metrics(RATE_A[::-1], PSNR_A[::-1], RATE_T, PSNR_T)
    assert r.bd_rate == pytest.approx(bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T), abs=1e-12)
    assert r.bd_quality == pytest.approx(bd_psnr(RATE_A, PSNR_A, RATE_T, PSNR_T), abs=1e-12)
    assert r.overlap_quality == (max(min(PSNR_A), min(PSNR_T)), min(max(PSNR_A), max(PSNR_T)))


def test_bad_curves_raise():
    with pytest.raises(RecError, match="overlap"):
        bd_rate(RATE_A, PSNR_A, RATE_A, [p + 10 for p in PSNR_A])
    with pytest.raises(RecError):
        bd_rate([1.0], [30.0], RATE_A, PSNR_A)
    with pytest.raises(RecError):
        bd_rate([0.0, 1.0], [30.0, 31.0], RATE_A, PSNR_A)
    with pytest.raises(RecError):
        bd_rate([1.0, 2.0], [30.0, 30.0], [1.0, 2.0], [29.0, 31.0])
    with pytest.raises(RecError):
        bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T, "linear")
    with pytest.raises(RecError):
        bd_rate(RATE_A, PSNR_A[:3], RATE_T, PSNR_T)
    assert np.isfinite(bd_rate(RATE_A[:2], PSNR_A[:2], RATE_T[:2], PSNR_T[:2]))
