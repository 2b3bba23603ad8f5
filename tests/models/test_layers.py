"""rec.models.layers and rec.models.rate: the in-place inference paths compute the same floats as training's."""

import pytest
import torch

from rec.models.layers import GDN
from rec.models.rate import Modulation


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_without_gradients_is_bit_identical_and_leaves_its_input(inverse):
    torch.manual_seed(0)
    gdn = GDN(12, inverse=inverse)
    with torch.no_grad():
        gdn.gamma.value.add_(0.05 * torch.rand_like(gdn.gamma.value))  # off-diagonal terms
    x = torch.randn(2, 12, 9, 7).contiguous(memory_format=torch.channels_last)
    kept = x.clone()
    with torch.enable_grad():
        trained = gdn(x.requires_grad_(True)).detach()
    x = x.detach()
    with torch.no_grad():
        inferred = gdn(x)
    assert torch.equal(inferred, trained)
    assert torch.equal(x, kept)  # the input is not overwritten below CHUNK_VALUES
    assert not torch.equal(inferred, x)


def test_modulation_without_gradients_is_bit_identical():
    torch.manual_seed(1)
    mod = Modulation(6, knots=4)
    with torch.no_grad():
        mod.log_gain.normal_(0, 0.3)
        mod.shift.normal_(0, 0.3)
    h, w = torch.randn(3, 6, 5, 5), torch.softmax(torch.randn(3, 4), 1)
    with torch.enable_grad():
        trained = mod(h, w).detach()
    with torch.no_grad():
        assert torch.equal(mod(h, w), trained)
