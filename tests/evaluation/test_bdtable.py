"""rec.evaluation.bdtable: BD cells with reasons, tables, twin curves."""

import pytest

from rec.errors import RecError
from rec.evaluation.bdrate import bd_rate
from rec.evaluation.bdtable import bd_cell, bd_table, distinct_curves, rd_frontier
from rec.evaluation.results import RDCurve

ANCHOR = RDCurve(name="A", bpp=[0.25, 0.5, 1.0, 2.0], psnr=[25, 28, 31, 34], ms_ssim=[0.85, 0.92, 0.96, 0.98])


def _scaled(curve: RDCurve, factor: float, name: str = "T") -> RDCurve:
    return RDCurve(name=name, bpp=[b * factor for b in curve.bpp], psnr=curve.psnr, ms_ssim=curve.ms_ssim)


@pytest.mark.parametrize("metric", ["psnr", "ms-ssim-db"])
def test_itself_zero_half_rate_minus_fifty(metric):
    assert bd_cell(ANCHOR, ANCHOR, metric).bd_rate == pytest.approx(0.0, abs=1e-9)
    half = bd_cell(ANCHOR, _scaled(ANCHOR, 0.5), metric)
    assert half.bd_rate == pytest.approx(-50.0, abs=1e-9) and half.overlap == 1.0 and half.text() == "-50.0 %"
    assert bd_cell(ANCHOR, _scaled(ANCHOR, 2.0), metric).bd_rate == pytest.approx(100.0, abs=1e-9)


def test_cell_agrees_with_bd_rate():
    test = RDCurve(name="T", bpp=[0.2, 0.45, 0.8, 1.7], psnr=[26, 29, 31.5, 35])
    cell = bd_cell(ANCHOR, test, "psnr")
    assert cell.bd_rate == pytest.approx(bd_rate(ANCHOR.bpp, ANCHOR.psnr, test.bpp, test.psnr))
    assert cell.result.overlap_quality == pytest.approx((26, 34))


def test_reasons():
    one = RDCurve(name="one", bpp=[0.5], psnr=[30])
    assert bd_cell(ANCHOR, one, "psnr").text() == "n/a (one point)"
    assert bd_cell(one, ANCHOR, "psnr").text() == "n/a (anchor has one point)"
    no_ms = RDCurve(name="p", bpp=[0.5, 1.0], psnr=[28, 31])
    assert bd_cell(ANCHOR, no_ms, "ms-ssim-db").text() == "n/a (curve has no MS-SSIM dB)"
    far = RDCurve(name="far", bpp=[0.5, 1.0], psnr=[40, 45])
    assert bd_cell(ANCHOR, far, "psnr").text() == "n/a (no overlap)"
    sliver = RDCurve(name="s", bpp=[0.5, 1.0, 2.0], psnr=[33, 40, 50])  # overlap 33-34 of 33-50
    cell = bd_cell(ANCHOR, sliver, "psnr")
    assert cell.result is None and "overlap 6 %" in cell.reason and cell.overlap == pytest.approx(1 / 17)
    assert bd_cell(ANCHOR, sliver, "psnr", min_overlap=0.0).result is not None
    repeated = RDCurve(name="r", bpp=[0.5, 0.5, 2.0], psnr=[28, 28, 31])  # a point twice: neither dominates
    assert bd_cell(ANCHOR, repeated, "psnr").text().startswith("n/a (repeated")


def test_dominated_points_are_left_out():
    assert rd_frontier([0.5, 1.0, 2.0, 3.0], [28, 28, 31, 30]).tolist() == [0, 2]  # more rate, no more quality
    assert rd_frontier([2.0, 0.5, 1.0], [31, 28, 30]).tolist() == [1, 2, 0]  # a monotone curve, by rate
    test = RDCurve(name="T", bpp=[0.2, 0.45, 0.6, 0.8, 1.7], psnr=[26, 29, 28.5, 31.5, 35])
    front = RDCurve(name="F", bpp=[0.2, 0.45, 0.8, 1.7], psnr=[26, 29, 31.5, 35])
    cell = bd_cell(ANCHOR, test, "psnr")
    assert cell.dropped == 1 and cell.bd_rate == pytest.approx(bd_cell(ANCHOR, front, "psnr").bd_rate)
    assert cell.text() == f"{cell.bd_rate:+.1f} % (1 dominated left out)"


def test_partial_overlap_is_shown():
    partial = RDCurve(name="p", bpp=[0.5, 1.0, 2.0, 4.0], psnr=[30, 34, 38, 42])  # 30-34 of 30-42: a third
    cell = bd_cell(ANCHOR, partial, "psnr")
    assert cell.overlap == pytest.approx(1 / 3) and cell.text().endswith("(33 %)")


def test_table_layout_lookup_and_markdown():
    jpeg, heic = ANCHOR, _scaled(ANCHOR, 0.6, "H")
    table = bd_table([("half", "ours", _scaled(ANCHOR, 0.5)), ("one", "ours", RDCurve(name="o", bpp=[1], psnr=[30], ms_ssim=[0.95]))],
                     [("JPEG", jpeg), ("HEIC", heic)])
    assert [c.header for c in table.columns] == ["vs JPEG, PSNR", "vs JPEG, MS-SSIM dB", "vs HEIC, PSNR", "vs HEIC, MS-SSIM dB"]
    assert table.cell("half", "JPEG", "psnr").bd_rate == pytest.approx(-50.0)
    assert table.cell("half", "HEIC", "ms-ssim-db").bd_rate == pytest.approx(100 * (0.5 / 0.6 - 1))
    md = table.markdown().splitlines()
    assert md[0].startswith("| group | curve | points | bpp range | vs JPEG, PSNR") and len(md) == 4
    assert md[3].count("n/a (one point)") == 4
    with pytest.raises(RecError, match="no row"):
        table.cell("nope", "JPEG", "psnr")
    with pytest.raises(RecError, match="no column"):
        table.cell("half", "VTM", "psnr")
    with pytest.raises(RecError, match="distinct"):
        bd_table([("x", "", ANCHOR), ("x", "", ANCHOR)], [("A", ANCHOR)])


def test_distinct_curves():
    twin = RDCurve(name="twin", bpp=[b * (1 + 1e-5) for b in ANCHOR.bpp], psnr=ANCHOR.psnr, ms_ssim=ANCHOR.ms_ssim)
    other = _scaled(ANCHOR, 0.9)
    kept, dropped = distinct_curves([("a_cpu", ANCHOR), ("a_cuda", twin), ("b", other)])
    assert [k for k, _ in kept] == ["a_cpu", "b"] and dropped == {"a_cuda": "a_cpu"}
