"""rec.samplers.layout: raster grouping (thesis Alg. 3) and every side-information code."""

import numpy as np
import pytest

from rec.samplers.layout import LAYOUT_CODES, GroupLayout, decode_layout, encode_layout, make_groups
from tests.helpers import random_layout


def test_make_groups_rules():
    kl = np.array([1.0, 2.0, 3.0, 20.0, 0.5, 0.5, 9.0, 1.0])
    sizes, gkl, outl = make_groups(kl, budget=5.0, max_group=3, outlier_kl=12.0)
    assert sizes.sum() == kl.size
    assert list(sizes) == [2, 1, 1, 2, 1, 1]
    assert list(outl) == [False, False, True, False, False, False]
    assert np.allclose(gkl, [3.0, 3.0, 20.0, 1.0, 9.0, 1.0])


@pytest.mark.parametrize("code", range(LAYOUT_CODES))
def test_every_size_code_round_trips(code):
    rng = np.random.default_rng(code)
    for max_group, outlier_level, n_dims, row in ((16, 11, 500, 10), (256, 13, 3000, 48), (3000, 25, 9000, 0)):
        layout = GroupLayout(*random_layout(rng, n_dims, max_group, outlier_level), max_group, outlier_level)
        data = encode_layout(layout, code, row)
        back = decode_layout(data, code, layout.sizes.size, max_group, outlier_level, n_dims, row)
        assert np.array_equal(back.sizes, layout.sizes) and np.array_equal(back.levels, layout.levels)
