"""rec.evaluation.reference_study: the rate split and the fragility figures of the mbt2018 codec."""

import numpy as np
import pytest

from rec.errors import RecError
from rec.evaluation.reference_study import study_point, wavefront_steps
from rec.evaluation.runner import EvalImage
from rec.models.context2d import wavefront_schedule
from rec.reference import encode
from tests.helpers import lively_mbt


@pytest.fixture(scope="module")
def images(make_image):
    return [EvalImage(f"im{i}.png", make_image(30 + i, 70, 130)) for i in range(2)]


def test_wavefront_steps_match_the_schedule():
    assert wavefront_steps(512, 768) == (141, 1536) and wavefront_steps(768, 512) == (173, 1536)
    assert wavefront_steps(70, 130) == (len(wavefront_schedule(8, 12)), 96)


def test_split_adds_up_to_the_file_and_unperturbed_decodes_are_right(images):
    net = lively_mbt()
    study = study_point(net, "m", images, model_hash=b"\x02" * 16, seeds=(0, 1), rel_noise=0.0)
    for s, im in zip(study.images, images):
        enc = encode(net, im.rgb, model_id="m", model_hash=b"\x02" * 16, reconstruct=False)
        assert s.bytes == len(enc.data) and 8 * s.bytes == s.bits_y + s.bits_z + s.overhead_bits
        assert s.bits_y > 0 and s.bits_z > 0 and s.psnr > 0
        assert all(t.ok and t.psnr_drop == 0.0 and t.symbol_fraction == 0.0 for t in s.trials)
    f = study.fragility()
    assert (f.trials, f.wrong, f.raised, f.images_wrong) == (4, 0, 0, 0) and f.max_latent_error_ok == 0.0
    assert f.symbol_fraction_max is None and f.psnr_drop_max is None
    pixels = [im.width * im.height for im in images]
    assert study.bpp == pytest.approx(np.mean([8 * s.bytes / p for s, p in zip(study.images, pixels)]))
    assert study.bpp == pytest.approx(study.bpp_y + study.bpp_z + study.bpp_overhead)


def test_large_perturbations_are_counted_and_measured(images):
    study = study_point(lively_mbt(), "m", images, seeds=(0, 1, 2), rel_noise=1e-2, scale_levels=0)
    f = study.fragility()
    assert f.trials == 6 and f.wrong >= 1 and f.wrong_rate == f.wrong / 6
    wrong = [t for s in study.images for t in s.trials if not t.ok]
    for t in wrong:
        assert t.raised == (t.symbol_fraction is None) == (t.psnr_drop is None)
    decoded = [t for t in wrong if not t.raised]
    if decoded:
        assert 0 < f.symbol_fraction_max <= 1 and f.psnr_drop_max == max(t.psnr_drop for t in decoded)


def test_bad_arguments(images):
    with pytest.raises(RecError, match="no images"):
        study_point(lively_mbt(), "m", [])
    with pytest.raises(RecError, match="relative noise"):
        study_point(lively_mbt(), "m", images, rel_noise=-1.0)
