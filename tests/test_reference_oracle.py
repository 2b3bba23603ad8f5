"""The reference codec's building blocks against tensorflow-compression (optional oracle).

Skipped unless tensorflow-compression imports, i.e. outside a virtual environment made
for it (TensorFlow 2.14 needs numpy < 2)::

    python -m venv /work/tfc-venv && . /work/tfc-venv/bin/activate
    pip install torch==2.13.0 -e '.[test,oracle]'
    pytest tests/test_reference_oracle.py

See rec.evaluation.oracle for the conventions matched (α, ε and γ's layout of tfc's GDN,
the bounds tfc's NoisyNormal lacks) and results/reference.md ("Oracle") for the figures.
"""

import pytest

pytest.importorskip("tensorflow_compression")

from rec.evaluation.oracle import TOLERANCE, check_factorized, check_gaussian, check_gdn, run_oracle  # noqa: E402


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_equals_tfc_gdn(inverse, record_property):
    check = check_gdn(inverse)
    record_property(f"{check.name}_max_rel_diff", check.max_rel_diff)
    assert check.values == 2 * 16 * 9 * 11
    assert check.max_rel_diff <= TOLERANCE, check


def test_gdn_layout_matters():
    """The oracle would notice a transposed γ: tfc's γ[j, i] against our [i, j]."""
    import tensorflow as tf
    import tensorflow_compression as tfc
    import torch

    from rec.models.layers import GDN

    g = torch.Generator().manual_seed(1)
    layer = GDN(6)
    with torch.no_grad():
        layer.gamma.value.copy_(torch.sqrt(torch.rand(6, 6, generator=g) + layer.gamma.pedestal))
        x = torch.randn(1, 6, 4, 5, generator=g)
        ours = layer(x).numpy()
        beta, gamma = layer.beta().numpy(), layer.gamma().numpy()
    nhwc = tf.constant(x.permute(0, 2, 3, 1).numpy())
    untransposed = tfc.GDN(alpha_parameter=2, epsilon_parameter=0.5, beta_parameter=beta, gamma_parameter=gamma)
    theirs = untransposed(nhwc).numpy().transpose(0, 3, 1, 2)
    assert abs(ours - theirs).max() > 1e-3


def test_discretized_gaussian_equals_tfc_noisy_normal(record_property):
    check = check_gaussian()
    record_property("gaussian_max_rel_diff", check.max_rel_diff)
    assert check.max_rel_diff <= TOLERANCE, check
    exact = check_gaussian(precision="float64")
    record_property("gaussian_vs_float64_max_rel_diff", exact.max_rel_diff)
    assert exact.passed, exact


def test_factorized_density_equals_tfc_deep_factorized(record_property):
    check = check_factorized()
    record_property("factorized_max_rel_diff", check.max_rel_diff)
    assert check.max_rel_diff <= TOLERANCE, check


def test_report():
    report = run_oracle()
    assert report.passed and len(report.checks) == 5
    assert "tensorflow-compression" in report.versions and "torch" in report.versions
