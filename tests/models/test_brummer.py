"""rec.models.brummer: the competition of priors (Brummer & De Vleeschouwer 2021), its static table and training rule."""

from pathlib import Path

import numpy as np
import pytest
import torch

from rec.errors import RecError
from rec.models.brummer import PRECISION, BrummerConfig, ManyPriors
from rec.models.pln import model_input
from rec.models.zoo import build, config_class, model_config
from tests.helpers import image_batch, tiny_brummer

ROOT = Path(__file__).resolve().parents[2]


def test_the_zoo_builds_the_new_kind_and_configs_check_it():
    assert config_class("brummer2021") is BrummerConfig
    config = model_config({"kind": "brummer2021", "N": 8, "M": 8, "n_priors": 3})
    assert isinstance(build(config), ManyPriors) and config.n_priors == 3 and config.factor == 16
    assert BrummerConfig().n_priors == 64
    with pytest.raises(RecError):
        BrummerConfig(kind="mbt2018")
    with pytest.raises(RecError):
        BrummerConfig(n_priors=0)


def test_the_training_config_reads_the_base_config():
    from rec.training.config import load_config

    run = load_config(ROOT / "configs" / "brummer2021-base.toml")
    recipe = load_config(ROOT / "configs" / "gamma-pln-vr2.toml")
    assert isinstance(run.model, BrummerConfig) and run.model.n_priors == 64
    shared = ("data", "val", "crop", "batch", "schedule", "lr", "lr_warmup", "lr_final", "ema", "augment", "bf16")
    assert [getattr(run.train, k) for k in shared] == [getattr(recipe.train, k) for k in shared]  # the same recipe
    assert run.train.init == "mbt2018-mid" and run.train.init_only == "g_a,g_s"  # on the reference's transforms


@pytest.mark.parametrize("height,width", [(5, 7), (33, 17), (64, 80)])
def test_latent_shapes_match_the_analysis(height, width):
    net = tiny_brummer().eval()
    x = model_input(np.zeros((height, width, 3), np.uint8), net.config.factor, channels_last=False)
    with torch.no_grad():
        assert net.latent_shapes(height, width) == (tuple(net.analyze(x).shape),)


def test_the_static_table_reproduces_the_priors_within_its_precision():
    net = tiny_brummer(n_priors=3, support=20).eval()
    table = net.static_table()
    r, p, m = 20, 3, 8
    assert table.counts.shape == (p, m, 2 * r + 3) and table.counts.dtype == np.int64
    assert (table.counts >= 1).all() and (table.counts.sum(axis=2) == 1 << PRECISION).all()
    # the model's own (float32) probabilities of every integer −R … R, prior p channel c = density channel p·M + c
    values = torch.arange(-r, r + 1, dtype=torch.float32)
    with torch.no_grad():
        lik = net.priors.likelihood(values.view(1, 1, 1, -1).expand(1, p * m, 1, values.numel()).contiguous())
    lik = lik[0, :, 0].double().numpy().reshape(p, m, -1)
    tolerance = (table.symbols + 1) / 2.0**PRECISION + 1e-6  # the rounding's bound + float32
    assert np.abs(table.probabilities()[:, :, 1:-1] - lik).max() <= tolerance
    # the escapes carry the tails: everything sums to one
    np.testing.assert_allclose(table.probabilities()[:, :, [0, -1]].sum(axis=2) + lik.sum(axis=2), 1.0, atol=table.symbols * tolerance)
    # deterministic: built twice, the same integers and digest
    again = net.static_table()
    assert np.array_equal(again.counts, table.counts) and again.digest() == table.digest()


def test_symbols_and_escapes_round_trip():
    table = tiny_brummer(n_priors=1, support=3).static_table()
    q = np.array([[-9, -4, -3, 0, 3, 4, 11]])
    s, excess = table.to_symbols(q)
    assert s.tolist() == [[0, 0, 1, 4, 7, 8, 8]] and excess.tolist() == [5, 0, 0, 7]
    assert np.array_equal(table.from_symbols(s, excess), q)


def test_only_the_winning_prior_of_a_location_is_trained():
    net = tiny_brummer(gain=1000.0).train()
    losses = net(image_batch(2, 3), noise=True)
    losses.loss.backward()
    won = np.bincount(losses.winners.flatten().numpy(), minlength=4) > 0
    assert won.sum() >= 2 and not won.all()  # a real competition, with losers
    for param in list(net.priors.matrices) + list(net.priors.biases) + list(net.priors.factors):
        per_prior = param.grad.view(4, -1).abs().sum(1).numpy()
        assert (per_prior[~won] == 0).all()
    assert all(net.priors.biases[-1].grad.view(4, -1).abs().sum(1).numpy()[won] > 0)
    # the rate is the winners' bits: the hard minimum of Algorithm 1
    with torch.no_grad():
        bits = net.prior_bits(losses.y_hat)
    torch.testing.assert_close(losses.bits_y * 2, bits.min(1).values.sum(), rtol=1e-5, atol=1e-3)


def test_idle_priors_are_forced_onto_the_costliest_locations():
    net = tiny_brummer(gain=1.0, patience=2).train()
    x = image_batch(4)
    for step in range(2):  # one prior wins everywhere; the others idle for 1, then 2 steps
        with torch.no_grad():
            bits = net.prior_bits(torch.round(net.analyze(x).float()))
        winners = net.assign(bits, force=True)
        if step == 0:
            assert len(set(winners.flatten().tolist())) == 1 and net.idle.tolist().count(1) == 3
    cheapest = bits.argmin(1)
    forced = (winners != cheapest).flatten()
    assert forced.sum() == 3 and set(winners.flatten()[forced].tolist()) == set(range(4)) - set(cheapest.unique().tolist())
    best = bits.gather(1, cheapest[:, None]).flatten()
    assert set(best.topk(3).indices.tolist()) == set(forced.nonzero()[:, 0].tolist())  # the largest bit counts
    assert net.idle.tolist() == [0, 0, 0, 0]
    assert "idle" not in net.state_dict()  # training state, not weights


def test_losses_report_rates_and_the_inference_path_rounds():
    net = tiny_brummer(gain=1000.0).eval()
    with torch.no_grad():
        losses = net(image_batch(5), noise=False)
    s = losses.scalars()
    assert set(s) == {"loss", "bpp", "bpp_y", "bpp_index", "bits_y", "bits_index", "mse", "psnr", "priors_used"}
    assert torch.equal(losses.y_hat, torch.round(losses.y_hat)) and s["bpp"] >= s["bpp_y"] > 0
    assert s["priors_used"] >= 1 and s["bits_index"] >= 0


def test_the_zoos_stored_state_loads_back_and_gives_the_same_table():
    from rec.models.zoo import load_state, stored_state

    net = tiny_brummer(n_priors=2, support=10).eval()
    state = stored_state(net)  # fp16, as the zoo ships weights
    a, b = build(net.config), build(net.config)
    load_state(a, state)
    load_state(b, state)
    assert np.array_equal(a.static_table().counts, b.static_table().counts)


def test_chunked_and_gathered_bits_match_the_whole_evaluation():
    net = tiny_brummer(gain=1.0).eval()
    y_hat = torch.round(net.analyze(image_batch(2)).float())
    with torch.no_grad():
        whole = net.prior_bits(y_hat, chunk=net.config.n_priors)
        torch.testing.assert_close(net.prior_bits(y_hat, chunk=1), whole)
        winners = torch.randint(0, net.config.n_priors, whole[:, 0].shape)
        torch.testing.assert_close(net.winner_bits(y_hat, winners), whole.gather(1, winners[:, None])[:, 0])


def test_the_priors_can_start_as_a_bank_of_scales():
    from rec.models.brummer import BrummerConfig, ManyPriors

    torch.manual_seed(0)
    net = ManyPriors(BrummerConfig(N=8, M=2, n_priors=5, init_scale=2.0, init_spread=16.0))
    y = torch.linspace(-40, 40, 81).view(1, 1, 9, 9).repeat(1, 2, 1, 1)
    with torch.no_grad():
        widths = [float(net.priors.quantiles(0.9)[p * 2] - net.priors.quantiles(0.1)[p * 2]) for p in range(5)]
        bits = net.prior_bits(torch.round(y))
    assert all(a > 1.8 * b for a, b in zip(widths, widths[1:]))  # prior 0 the widest, each next ~2× narrower
    assert widths[0] / widths[-1] == pytest.approx(16.0, rel=0.35)
    winners = net.assign(bits)[0]
    assert winners[4, 4] == 4 and winners[0, 0] == 0  # the narrowest wins at 0, the widest far out
