"""Builders that several test modules share: tiny seeded models of every codec, a zoo entry, a
script loaded as a module, a fabricated ``rec eval`` curve. Test modules import from here (or
from conftest.py), never from one another.

=============================  ===================================================================
:data:`FAST`, :data:`FAST_STEM`  a fast REC sampler pair, and what a ``rec eval`` run with it adds to file names
:func:`tiny_model`             an untrained tiny PLN (γ-PLN by default)
:func:`tiny_variable_rate_model`  a tiny variable-rate γ-PLN whose β changes what is coded
:func:`tiny_isokl_model`       a tiny variable-rate iso-KL γ-PLN with budgets of a few bits per dimension
:func:`tiny_mbt`               an untrained tiny mbt2018 (N = 8, M = 6, F = 8, G = 4 unless told)
:func:`lively_mbt`             a tiny mbt2018 whose latents span several integers (optionally variable-rate)
:func:`tiny_mentzer`           a tiny mentzer2018 (3D context model) with spread latents
:func:`tiny_brummer`           a tiny brummer2021 (competition of priors) with priors of different spreads
:func:`image_batch`            generated images as a float batch (B, 3, size, size) in [0, 1]
:func:`install`                write a model into a zoo directory as the zoo does
:func:`load_script`            a module of scripts/ by name
:func:`rec_curve`              a fabricated ``rec eval`` REC curve (KL, bound, ideal quality)
:func:`random_layout`          group sizes and levels of a random sampler layout
=============================  ===================================================================
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from rec.fuzzing import smooth_image

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"

#: A fast REC sampler pair for tests.
FAST = "importance(bits=10,max_group=8):greedy(bits=8,shards=4)"
#: What a ``rec eval`` run with :data:`FAST` adds to its files' names.
FAST_STEM = "is-bits10-maxgroup8_gs-bits8-shards4"


# -- models ------------------------------------------------------------------------------------

#: The widths of :func:`tiny_mbt`.
TINY_MBT = dict(N=8, M=6, F=8, G=4)


def tiny_model(seed: int = 0, *, kind: str = "gamma-pln"):
    """An untrained N = 16, M = 8 PLN of ``kind``, named ``tiny-<seed>`` (a γ-PLN) or ``tiny-<kind>-<seed>``."""
    from rec.models.pln import PLN, ModelConfig

    torch.manual_seed(seed)
    model = PLN(ModelConfig(kind=kind, N=16, M=8, F=16, G=4)).eval()
    model.name = f"tiny-{kind}-{seed}" if kind != "gamma-pln" else f"tiny-{seed}"
    return model


def tiny_variable_rate_model(seed: int = 0):
    """A tiny variable-rate γ-PLN (β in [0.1, 4], default 0.5) named ``tiny-vr-<seed>``, whose
    modulations differ per knot, so that β changes what is coded."""
    from rec.models.pln import PLN, ModelConfig

    torch.manual_seed(seed)
    model = PLN(ModelConfig(kind="gamma-pln", posterior="residual", N=16, M=8, F=16, G=4, beta=0.5, beta_min=0.1,
                            beta_max=4.0, gamma_inf=0.001)).eval()
    with torch.no_grad():
        for p in model.modulations.parameters():
            p.normal_(0, 0.3)
    model.name = f"tiny-vr-{seed}"
    return model


def tiny_isokl_model(seed: int = 0, group_budget: int = 0):
    """A tiny variable-rate iso-KL γ-PLN named ``tiny-iso-<seed>`` whose KappaNet gives budgets of a
    few bits per dimension that vary with z2 and β (zeros among them); ``group_budget``: its groups
    share their budgets (ModelConfig.group_budget)."""
    from rec.models.pln import PLN, ModelConfig

    torch.manual_seed(seed)
    model = PLN(ModelConfig(kind="gamma-pln", posterior="isokl", N=16, M=8, F=16, G=4, beta=0.5, beta_min=0.1,
                            beta_max=4.0, gamma_inf=0.001, group_budget=group_budget)).eval()
    with torch.no_grad():
        for layer in (model.kappa.conv1, model.kappa.up, model.kappa.conv2, model.kappa.out):
            layer.weight.normal_(0, 3.0 / math.sqrt(layer.weight[0].numel()))
            layer.bias.uniform_(0, 1)
        model.kappa.out.bias.uniform_(-1, 4)
    model.name = f"tiny-iso-{seed}" + (f"-g{group_budget}" if group_budget else "")
    return model


def tiny_mbt(seed: int = 0, **config):
    """An untrained, seeded mbt2018 of :data:`TINY_MBT` widths; ``config`` overrides
    :class:`~rec.models.joint.JointConfig` fields (widths, a λ range)."""
    from rec.models.joint import JointConfig, JointPrior

    torch.manual_seed(seed)
    return JointPrior(JointConfig(**{**TINY_MBT, **config})).eval()


def lively_mbt(seed: int = 0, config=None, spread: float = 0.3):
    """A tiny untrained but seeded mbt2018 whose latents span several integers.

    Untrained, y is ~0 and every σ sits at its bound, which makes coding trivial; scaling g_a's
    output and spreading the predicted scales gives a few bits per latent, like a trained model.
    ``config``: a :class:`JointConfig` (default N = 8, M = 6, F = 8, G = 8, fixed rate); a
    variable-rate one gets modulations that differ per knot (``spread``), so that λ changes
    what is coded. Named ``mbt-<seed>`` (``mbt-vr-<seed>`` variable-rate).
    """
    from rec.models.joint import JointConfig, JointPrior

    config = config or JointConfig(N=8, M=6, F=8, G=8)
    m = config.M
    torch.manual_seed(seed)
    model = JointPrior(config).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(40)
        model.g_a[-1].bias.mul_(40)
        model.entropy_parameters[-1].weight[m:].mul_(10)
        model.entropy_parameters[-1].bias[m:].add_(3.0)
        if config.variable_rate:
            for p in model.modulations.parameters():
                p.normal_(0, spread)
    model.name = f"mbt-{'vr-' if config.variable_rate else ''}{seed}"
    return model


def tiny_mentzer(M: int = 4, gain: float = 20.0, importance_map: bool = True, distortion: str = "mse", **kw):
    """An untrained N = 8 mentzer2018 model whose latents (E's last layer × ``gain``) spread over the six centres."""
    from rec.models.mentzer import ContextAutoencoder, MentzerConfig

    torch.manual_seed(0)
    net = ContextAutoencoder(MentzerConfig(N=8, M=M, context=8, blocks=1, units=1, importance_map=importance_map,
                                           distortion=distortion, **kw))
    with torch.no_grad():
        net.encoder[-1].weight.mul_(gain)
    return net


def tiny_brummer(n_priors: int = 4, support: int = 127, gain: float = 1.0, patience: int = 50):
    """An untrained N = M = 8 brummer2021 model whose priors have different spreads (prior p ~4**p
    narrower in its first layer), so that different priors win different locations when ``gain`` widens y."""
    from rec.models.brummer import BrummerConfig, ManyPriors

    torch.manual_seed(0)
    net = ManyPriors(BrummerConfig(N=8, M=8, n_priors=n_priors, support=support, patience=patience))
    with torch.no_grad():
        mat = net.priors.matrices[0]
        spread = torch.log(torch.tensor([4.0**-p for p in range(n_priors)])).view(n_priors, 1, 1, 1)
        mat.view(n_priors, 8, *mat.shape[1:]).add_(spread)
        net.g_a[-1].weight.mul_(gain)
    return net


def image_batch(*seeds: int, size: int = 64) -> torch.Tensor:
    """Generated images (:func:`rec.fuzzing.smooth_image`, one per seed) as floats (B, 3, size, size) in [0, 1]."""
    images = np.stack([smooth_image(np.random.default_rng(s), size, size) for s in seeds])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


# -- files -------------------------------------------------------------------------------------


def install(zoo_path: Path, name: str, model, extra: dict | None = None) -> None:
    """Write ``model`` into a zoo directory as the zoo does (fp16 safetensors + index entry, ``extra`` its extra)."""
    from safetensors.torch import save_file

    import rec.models.zoo as zoo

    path = zoo_path / f"{name}.safetensors"
    save_file(zoo.stored_state(model), str(path))
    index_path = zoo_path / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[name] = {"name": name, "config": model.config.to_dict(), "steps": 0, "wall_hours": 0.0, "data": "test",
                   "sha256": zoo.file_sha256(path), "description": "test model", "parent": "", "extra": extra or {}}
    index_path.write_text(json.dumps(index))


def load_script(name: str):
    """``scripts/<name>.py`` as a module (registered in ``sys.modules``, where dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def rec_curve(name: str = "REC γ-PLN", kl=(0.2, 0.5, 1.0), pixels: int = 768 * 512, models=None):
    """A fabricated rec eval curve: bound from the KL as the codec computes it, 1.4× KL written."""
    from rec.evaluation.results import RDCurve

    bound = [(k * pixels + 2 * math.log2(k * pixels + 1)) / pixels for k in kl]
    ideal = [24 + 6 * k for k in kl]
    return RDCurve(
        name=name, bpp=[1.4 * k for k in kl], psnr=[p - 0.05 for p in ideal], ms_ssim=[0.9 + 0.05 * k for k in kl],
        extra={"kl_bpp": kl, "bound_bpp": bound, "ideal_psnr": ideal, "ideal_ms_ssim": [0.901 + 0.05 * k for k in kl]},
        meta={"models": models or [f"m{i}" for i in range(len(kl))], "dataset": "kodak", "images": 24})


def random_layout(rng, n_dims: int, max_group: int, outlier_level: int) -> tuple[np.ndarray, np.ndarray]:
    """Group ``(sizes, levels)`` of a random layout: outliers, small, random and full groups, every level class."""
    sizes, levels = [], []
    left = n_dims
    while left:
        kind = rng.integers(4)
        if kind == 0:  # outlier
            s, lv = 1, outlier_level
        else:
            s = int(min(left, rng.choice([rng.integers(1, 8), rng.integers(1, max_group + 1), max_group])))
            lv = int(rng.choice([0, outlier_level - 1, rng.integers(1, outlier_level)]))
        s = min(s, left)
        sizes.append(s)
        levels.append(lv)
        left -= s
    return np.array(sizes, np.int64), np.array(levels, np.int64)
