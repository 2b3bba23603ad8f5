"""Oracle: rec's GDN and entropy models against tensorflow-compression's (optional).

tensorflow-compression (tfc, Ballé et al.; the authors' own library, whose models
produced the published mbt2018 numbers) serves as an independent implementation of
the pieces of :mod:`rec.models` that the reference codec's figures rest on. Each check
builds tfc's object with *our* effective parameters and compares outputs on the same
inputs elementwise:

==========================  =============================================  =================================
check                       ours                                           tfc
==========================  =============================================  =================================
GDN, IGDN                   :class:`rec.models.layers.GDN` (NCHW)          ``tfc.GDN(alpha_parameter=2,
                                                                           epsilon_parameter=0.5)`` (NHWC)
discretized Gaussian        :func:`rec.models.entropy.gaussian_likelihood`  ``tfc.NoisyNormal(loc, scale).prob``
factorized density          :class:`rec.models.entropy.FactorizedDensity`  ``tfc.NoisyDeepFactorized.prob``
==========================  =============================================  =================================

Conventions that must be matched by hand (and are, here):

* tfc's GDN defaults to α = 1, ε = 1 (the "simplified" GDN of Johnston et al. 2019);
  Ballé's GDN, ours, is α = 2, ε = ½. Its γ is indexed [j, i] (input channel first:
  ``norm_i = β_i + Σ_j γ[j, i] x_j²``), ours [i, j] like a conv weight: tfc's γ = ours ᵀ.
* tfc's ``NoisyNormal`` has no scale or likelihood bound (tfc's models bound the scale
  through the scale table of their indexed entropy model): the oracle applies ours,
  max(σ, 0.11) and max(p, 1e-9), explicitly on tfc's side.
* tfc's ``DeepFactorized`` keeps its parameters as (C, out, in) matrices, (C, out, 1)
  biases and factors, the layout of ours; the oracle assigns ours to its variables
  (private attributes ``_matrices``, ``_biases``, ``_factors`` of tfc 2.14).

The relative difference of a check is max over elements of |ours − tfc| / |tfc|
(0 where both are 0), asked to be at most 1e-4. Everything runs in float32 on both
sides, as the codec does; one more check evaluates tfc's Gaussian in float64, to show
how much of the difference is float32 rounding (both sides lose up to ~2e-4 relative
for σ near 300, where p = Φ(a) − Φ(b) cancels).

tfc pins TensorFlow 2.14, which needs numpy < 2: install it in a separate virtual
environment (``pip install -e '.[test,oracle]'``), never beside the main one's numpy.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
from dataclasses import dataclass

import numpy as np
import torch

from rec.errors import RecError

__all__ = ["TOLERANCE", "OracleCheck", "OracleReport", "unavailable_reason", "check_gdn", "check_gaussian",
           "check_factorized", "run_oracle"]

#: The agreement asked of every check (relative).
TOLERANCE = 1e-4


@dataclass(frozen=True)
class OracleCheck:
    """One comparison of ours against tfc.

    Attributes:
        name: what was compared ("GDN", "IGDN", ...).
        ours, theirs: the two implementations.
        values: number of elements compared.
        max_rel_diff: max |ours − tfc| / |tfc| over the elements.
        max_abs_diff: max |ours − tfc|.
        tolerance: the relative difference allowed.
    """

    name: str
    ours: str
    theirs: str
    values: int
    max_rel_diff: float
    max_abs_diff: float
    tolerance: float = TOLERANCE

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_diff <= self.tolerance)


@dataclass(frozen=True)
class OracleReport:
    """Every check, and the versions and date they were run with."""

    checks: tuple[OracleCheck, ...]
    versions: str
    date: str

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _import():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    try:
        import tensorflow as tf
        import tensorflow_compression as tfc
    except ImportError as e:
        raise RecError(f"tensorflow-compression is not importable: {e}") from None
    return tf, tfc


def unavailable_reason() -> str | None:
    """Why the oracle cannot run here (tfc not importable), or None."""
    try:
        _import()
    except RecError as e:
        return str(e)
    return None


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    tf, _ = _import()
    try:
        tfc_version = version("tensorflow-compression")
    except PackageNotFoundError:
        tfc_version = "?"
    return (f"tensorflow-compression {tfc_version}, tensorflow {tf.__version__}, torch {torch.__version__}, "
            f"numpy {np.__version__}, Python {platform.python_version()}")


def _compare(name: str, ours_name: str, theirs_name: str, ours: np.ndarray, theirs: np.ndarray) -> OracleCheck:
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if a.shape != b.shape:
        raise RecError(f"oracle {name}: shapes differ, ours {a.shape}, tfc {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise RecError(f"oracle {name}: non-finite values")
    diff = np.abs(a - b)
    rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(b), 1e-30))
    return OracleCheck(name, ours_name, theirs_name, int(a.size), float(rel.max()), float(diff.max()))


def check_gdn(inverse: bool = False, channels: int = 16, seed: int = 0) -> OracleCheck:
    """Our GDN (or IGDN) against ``tfc.GDN`` with the same β, γ on a random (2, C, 9, 11) input.

    β ∈ [0.5, 1.5] and a non-symmetric γ ≥ 0 (so a transposed γ would be caught) are
    written into our reparametrized parameters; tfc gets our effective β and γᵀ as constants.
    """
    from rec.models.layers import GDN

    tf, tfc = _import()
    g = torch.Generator().manual_seed(seed)
    layer = GDN(channels, inverse=inverse)
    beta = 0.5 + torch.rand(channels, generator=g)
    gamma = 0.2 * torch.rand(channels, channels, generator=g) + 0.3 * torch.eye(channels)
    with torch.no_grad():
        for param, value in ((layer.beta, beta), (layer.gamma, gamma)):
            param.value.copy_(torch.sqrt(value + param.pedestal))
        beta_eff, gamma_eff = layer.beta().numpy(), layer.gamma().numpy()
        x = 2.0 * torch.randn(2, channels, 9, 11, generator=g)
        ours = layer(x).numpy()
    theirs_layer = tfc.GDN(inverse=inverse, alpha_parameter=2, epsilon_parameter=0.5,
                           beta_parameter=tf.constant(beta_eff), gamma_parameter=tf.constant(gamma_eff.T))
    theirs = theirs_layer(tf.constant(x.permute(0, 2, 3, 1).numpy())).numpy().transpose(0, 3, 1, 2)
    name = "IGDN" if inverse else "GDN"
    return _compare(name, f"rec.models.layers.GDN(inverse={inverse})",
                    f"tfc.GDN(inverse={inverse}, alpha_parameter=2, epsilon_parameter=0.5)", ours, theirs)


def check_gaussian(count: int = 200_000, seed: int = 0, precision: str = "float32") -> OracleCheck:
    """Our discretized Gaussian likelihood against ``tfc.NoisyNormal(μ, max(σ, 0.11)).prob``, bounded by 1e-9.

    μ ~ 5·N(0, 1); σ log-uniform in [0.02, 300] (below the bound too); the values are
    the codec's ŷ = μ + q for integers q up to ±6σ, and as many arbitrary reals.

    ``precision="float64"`` evaluates tfc's side in float64 (on the same float32
    inputs): the exact value, so the check then measures our float32 rounding. For
    large σ, p = Φ(a) − Φ(b) loses digits to cancellation in float32 (ours and tfc's
    alike), hence that check's looser tolerance of 1e-3.
    """
    from rec.models.entropy import LIKELIHOOD_BOUND, SCALE_BOUND, gaussian_likelihood

    if precision not in ("float32", "float64"):
        raise RecError(f"precision must be float32 or float64, got {precision!r}")
    tf, tfc = _import()
    rng = np.random.default_rng(seed)
    mean = (5.0 * rng.standard_normal(count)).astype(np.float32)
    scale = np.exp(rng.uniform(np.log(0.02), np.log(300.0), count)).astype(np.float32)
    q = np.round(rng.uniform(-6, 6, count) * np.maximum(scale, SCALE_BOUND))
    half = count // 2
    values = (mean + q).astype(np.float32)
    values[half:] = (mean[half:] + rng.uniform(-6, 6, count - half) * scale[half:]).astype(np.float32)
    ours = gaussian_likelihood(torch.from_numpy(values), torch.from_numpy(mean), torch.from_numpy(scale)).numpy()
    dtype = np.dtype(precision)
    bounded = np.maximum(scale, np.float32(SCALE_BOUND)).astype(dtype)  # the bound as ours applies it, in float32
    prior = tfc.NoisyNormal(loc=tf.constant(mean.astype(dtype)), scale=tf.constant(bounded))
    theirs = tf.maximum(prior.prob(tf.constant(values.astype(dtype))), LIKELIHOOD_BOUND).numpy()
    if precision == "float32":
        return _compare("discretized Gaussian", "rec.models.entropy.gaussian_likelihood (σ ≥ 0.11, p ≥ 1e-9)",
                        "tfc.NoisyNormal(loc, max(σ, 0.11)).prob, max(p, 1e-9)", ours, theirs)
    check = _compare("discretized Gaussian, exact", "rec.models.entropy.gaussian_likelihood (float32)",
                     "tfc.NoisyNormal(...).prob in float64 (the exact value)", ours, theirs)
    return dataclasses.replace(check, tolerance=1e-3)


def check_factorized(channels: int = 8, seed: int = 0) -> OracleCheck:
    """Our factorized density against ``tfc.NoisyDeepFactorized`` with our parameters, bounded by 1e-9.

    The parameters are perturbed from their initial values (so the CDF networks are
    not all alike); the inputs are integers and reals over the central support.
    """
    from rec.models.entropy import FactorizedDensity

    tf, tfc = _import()
    g = torch.Generator().manual_seed(seed)
    ours_density = FactorizedDensity(channels, filters=(3, 3, 3))
    with torch.no_grad():
        for p in ours_density.biases:  # initialized from torch's global generator: reseed from ours
            p.copy_(torch.rand(p.shape, generator=g) - 0.5)
        for group, spread in ((ours_density.matrices, 0.5), (ours_density.biases, 1.0), (ours_density.factors, 1.0)):
            for p in group:
                p.add_(spread * torch.randn(p.shape, generator=g))
        x = torch.cat([torch.round(8 * torch.randn(4, channels, 8, 8, generator=g)),
                       8 * torch.randn(4, channels, 8, 8, generator=g)])
        ours = ours_density.likelihood(x).numpy()
    theirs_density = tfc.NoisyDeepFactorized(batch_shape=(channels,), num_filters=(3, 3, 3))
    base = theirs_density.base
    for mine, theirs in ((ours_density.matrices, base._matrices), (ours_density.biases, base._biases),
                         (ours_density.factors, base._factors)):
        if len(mine) != len(theirs):
            raise RecError("oracle: tfc's DeepFactorized has another number of layers")
        for p, v in zip(mine, theirs):
            v.assign(p.detach().numpy())
    theirs = tf.maximum(theirs_density.prob(tf.constant(x.permute(0, 2, 3, 1).numpy())), ours_density.likelihood_bound)
    return _compare("factorized density", "rec.models.entropy.FactorizedDensity.likelihood (p ≥ 1e-9)",
                    "tfc.NoisyDeepFactorized.prob, max(p, 1e-9)", ours, theirs.numpy().transpose(0, 3, 1, 2))


def run_oracle(seed: int = 0) -> OracleReport:
    """Every check once.

    Raises:
        RecError: tensorflow-compression is not importable.
    """
    checks = (check_gdn(False, seed=seed), check_gdn(True, seed=seed), check_gaussian(seed=seed),
              check_gaussian(seed=seed, precision="float64"), check_factorized(seed=seed))
    return OracleReport(checks, _versions(), datetime.date.today().isoformat())
