"""rec.models.fixed_point: sums that are exact whatever their order, so the same bits everywhere."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rec.errors import RecError
from rec.models.fixed_point import ACT_BITS, FixedPointSequential, StepNetworks, on_grid
from rec.models.layers import MirrorConv2d, MirrorConvTranspose2d


def test_a_sum_on_the_grid_does_not_depend_on_its_order():
    rng = torch.Generator().manual_seed(0)
    w = torch.randn(64, 2048, generator=rng) * 0.3
    x = torch.randn(32, 2048, generator=rng) * 20
    nets = StepNetworks.exact((w, torch.zeros(64)), ())
    wq, xq = nets.context[0], nets.settle(x)
    perm = torch.randperm(2048, generator=rng)
    exact = F.linear(xq, wq)
    assert torch.equal(exact, F.linear(xq[:, perm], wq[:, perm]))  # another summation order
    assert torch.equal(exact, (xq[:, None, :] * wq[None]).sum(-1))  # another kernel
    # float32 gives other bits in another order (what made files machine-dependent)
    assert not torch.equal(F.linear(x, w), F.linear(x[:, perm], w[:, perm]))


def test_a_fixed_point_transform_gives_the_same_bits_for_any_layout_and_thread_count():
    torch.manual_seed(1)
    seq = nn.Sequential(MirrorConvTranspose2d(8, 16, 5, 2), nn.LeakyReLU(0.2), MirrorConv2d(16, 12, 3))
    fixed = FixedPointSequential(seq)
    z = torch.randn(1, 8, 9, 13) * 3
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fixed(z)
        torch.set_num_threads(2)
        two = fixed(z.contiguous(memory_format=torch.channels_last))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    assert torch.equal(one, on_grid(one, ACT_BITS))  # on the grid
    with torch.no_grad():
        assert torch.allclose(one, seq(z).double(), atol=1e-2)  # and close to the float network


def test_weights_too_large_for_exact_sums_are_refused():
    conv = nn.Conv2d(512, 4, 5)
    with torch.no_grad():
        conv.weight.fill_(2.0 ** 12)
    with pytest.raises(RecError, match="too large"):
        FixedPointSequential(nn.Sequential(conv))
