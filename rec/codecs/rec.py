"""The REC codec: image ⇄ bytes, composing a model, two coded samplers and the container.

Data flow (docs/design.md §1; thesis section 3.4)::

    encode                                          decode
    x ─► model.analyze ─► q(z2|x), p(z2)=N(0,I)      header ─► model, size, samplers, seed
         level-2 sampler ─► msg2 ─► z2 (coded)       msg2 ─► level-2 sampler.decode ─► z2
         p(z1|z2), q(z1|z2,x) from the coded z2      p(z1|z2) from z2 (same code)
         level-1 sampler ─► msg1 ─► z1               msg1 ─► level-1 sampler.decode ─► z1
                                                     x̂ = synthesize(z1), cropped, rounded

Invariants:

* The decoder sees only the bytes, the model and the shared randomness; the
  level-1 prior is computed from the *coded* z2 on both sides by the same code
  (:func:`_chain`, the one description of the levels that encode and decode run).
* No discrete decision is re-derived from floats on the decoder side (the
  samplers transmit group layouts and counts, or, for an iso-KL model's budget
  sampler, derive them from the integer budget levels of z2 and β), so float noise
  in the prior network moves the decoded latents slightly but never
  desynchronizes them.
* Every number of the :class:`Report` comes from the bytes written; the
  distortion figures come from decoding those bytes (``verify=True``).

The one-level VAE ablation codes a single level with the level-1 sampler. A
variable-rate model's β travels in the RATE section (one f64, level 0).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

import numpy as np
import torch

from rec.codecs.base import Compressed, LevelBits, LevelReport, Report, distortion, model_hash
from rec.codecs.registry import register
from rec.container import Container, Header, SamplerSpec, Section, SectionType, checked_rate, rate_section, same_weights
from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.image import tensor_image
from rec.models.pln import PLN, Normal, model_input
from rec.random import raw
from rec.samplers import BudgetSampler, Sampler, make, parse_sampler

__all__ = ["CODEC_ID", "DEFAULT_SAMPLERS", "BUDGET_SAMPLERS", "OWN_PAIR", "RecCodec", "base_samplers", "coding_samplers", "default_samplers",
           "describe_default_samplers", "level1_schedule", "parse_samplers", "with_level1_knobs"]

CODEC_ID = "rec"
#: Adaptive importance sampling on both levels, tempered selection (results/samplers_real.md).
#: The thesis's IS-GS pair (greedy on level 1) stays selectable ("importance:greedy"), but
#: with our models it writes 3-4× the KL, against about 1.4× for importance sampling.
DEFAULT_SAMPLERS = "importance(bits=13,max_group=256,margin=0,temper=8):importance(bits=11,max_group=256,margin=0,temper=8)"  # level 2 at B = 13: results/level2_budget.md
#: The iso-KL models' pair: level 1 in groups derived from the exact budgets, no side information.
BUDGET_SAMPLERS = "importance(bits=13,max_group=256,margin=0,temper=8):budget(bits=11,max_group=1024,margin=0,temper=8)"
#: The spelling of "each model's own pair" (:func:`default_samplers`) where a pair is asked for.
OWN_PAIR = "default"
SEED_STREAM = 1000  # rec.random stream that derives each level's seed from the header seed


def _level_seed(seed: int, level: int) -> int:
    return int(raw(seed, SEED_STREAM, level))


#: The level-1 settings a model's zoo entry may schedule by β, with the range of their values: the
#: margin (bits) and the distortion guide's strength.
LEVEL1_SCHEDULES = {"level1_margin": (-4.0, 4.0), "level1_guide": (0.0, 16.0)}


def level1_schedule(net: PLN, key: str = "level1_margin") -> tuple[tuple[float, float], ...]:
    """A level-1 setting the model's zoo entry chose by rate-distortion, as ``extra["coding"][key]``
    (a key of :data:`LEVEL1_SCHEDULES`): ``[[β_below, value], …]`` with β_below increasing; () if none.

    Raises:
        RecError: a malformed schedule.
    """
    low, high = LEVEL1_SCHEDULES[key]
    raw = (getattr(net, "coding", None) or {}).get(key, [])
    try:
        steps = tuple((float(b), float(m)) for b, m in raw)
    except (TypeError, ValueError):
        raise RecError(f"model {getattr(net, 'name', '')!r}: {key} must be [[beta_below, value], ...], "
                       f"got {raw!r}") from None
    if any(b <= a for (a, _), (b, _) in zip(steps, steps[1:])) or any(not low <= m <= high for _, m in steps):
        raise RecError(f"model {getattr(net, 'name', '')!r}: {key} needs increasing β and values in "
                       f"[{low:g}, {high:g}], got {raw!r}")
    return steps


def _at(steps: tuple[tuple[float, float], ...], beta: float) -> float:
    """The value of the first step whose β_below exceeds β, else 0."""
    return next((value for below, value in steps if beta < below), 0.0)


def default_samplers(net: PLN, beta: float | None) -> str:
    """:func:`base_samplers` with level 1's margin and distortion guide as the model's schedules
    (:func:`level1_schedule`) give them at β (a fixed-rate model: its default β), 0 where they
    give none. results/level1_guide*.md measure the choice; an explicit sampler pair overrides it."""
    beta = float(net.config.beta if beta is None else beta)
    return with_level1_knobs(_at(level1_schedule(net), beta), base_samplers(net),
                              guide=_at(level1_schedule(net, "level1_guide"), beta))


def coding_samplers(net: PLN, beta: float | None, samplers=None) -> tuple[Sampler, Sampler]:
    """The pair that codes with ``net`` at β: ``samplers`` (a spec or a pair of samplers) as given, or for
    None and :data:`OWN_PAIR` the model's own (:func:`default_samplers`)."""
    own = samplers is None or (isinstance(samplers, str) and samplers.strip() == OWN_PAIR)
    return parse_samplers(default_samplers(net, beta) if own else samplers)


def describe_default_samplers() -> str:
    """The default pair in words, for the help texts: it depends on the model (:func:`default_samplers`)."""
    from rec.models.zoo import DEFAULT_MODEL

    return (f"the model's own pair: {BUDGET_SAMPLERS} for an iso-KL model such as the default {DEFAULT_MODEL}, "
            f"else {DEFAULT_SAMPLERS}; level 1's margin and distortion guide as the model's zoo entry chose for the rate")


def base_samplers(net: PLN) -> str:
    """The model's sampler pair at margin 0: :data:`BUDGET_SAMPLERS` for an iso-KL model, else :data:`DEFAULT_SAMPLERS`."""
    return BUDGET_SAMPLERS if net.config.posterior == "isokl" else DEFAULT_SAMPLERS


def with_level1_knobs(margin: float, pair: str = DEFAULT_SAMPLERS, guide: float = 0.0) -> str:
    """``pair`` (:data:`DEFAULT_SAMPLERS` or :data:`BUDGET_SAMPLERS`) with level 1's two encoder knobs
    set: its margin (0 there) to ``margin`` and, unless 0, its distortion ``guide``."""
    level2, level1 = pair.split(":")
    level1 = level1.replace("margin=0", f"margin={margin:g}")
    return f"{level2}:{level1[:-1]},guide={guide:g})" if guide else f"{level2}:{level1}"


def parse_samplers(spec: str | tuple | list | None) -> tuple[Sampler, Sampler]:
    """Samplers of level 2 and level 1 from ``"LEVEL2:LEVEL1"``.

    Each side is a name (``importance``/``is``, ``greedy``/``gs``, ``rejection``/``rs``, ``budget``/``bs``)
    with optional parameters, e.g. ``"importance(bits=16,max_group=8):greedy(shards=20)"``.
    Sampler objects (a pair) are passed through; None means :data:`DEFAULT_SAMPLERS`.
    """
    if spec is None:
        spec = DEFAULT_SAMPLERS
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2 or not all(isinstance(s, Sampler) for s in spec):
            raise RecError("samplers must be a 'LEVEL2:LEVEL1' string or a pair of Sampler objects")
        return tuple(spec)
    if not isinstance(spec, str):
        raise RecError(f"samplers must be a string like {DEFAULT_SAMPLERS!r}")
    parts = re.findall(r"[^:()]+(?:\([^)]*\))?", spec.replace(" ", ""))
    if len(parts) != 2 or ":".join(parts) != spec.replace(" ", ""):
        raise RecError(f"sampler pair {spec!r} must look like 'importance:greedy' (level 2 : level 1)")
    return tuple(parse_sampler(p) for p in parts)


def _tensor(z: np.ndarray, net: PLN) -> torch.Tensor:
    """A coded sample as the batch of one the model takes, on the model's device."""
    t = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))[None].to(net.device)
    return t.contiguous(memory_format=torch.channels_last)


def _rate(net: PLN, beta: float | None) -> float | None:
    """The β a file of ``net`` is coded at: None for a fixed-rate model, else ``beta`` or the model's default."""
    if not net.config.variable_rate:
        return None
    return float(net.config.beta if beta is None else beta)


def _chain(net: PLN, shapes: tuple, beta: float | None, level2: Callable[[Normal], torch.Tensor],
           level1: Callable[[Normal, np.ndarray | None], torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The levels, top down, as both sides run them: z2 coded against p(z2) = N(0, I) (two-level
    models), then z1 against p(z1|z2, β) computed from the *coded* z2, with the integer budget
    levels of an iso-KL model (else None). ``level2`` / ``level1`` code one level given its prior
    (the encoder: encode and return the coded sample; the decoder: decode it). Returns (z2 or None, z1)."""
    z2 = level2(net.level2_prior(shapes[1])) if len(shapes) > 1 else None
    return z2, level1(net.level1_prior(z2, shapes[0], beta), None if z2 is None else net.level1_budget(z2, beta))


def _bound(sampler: Sampler, levels: np.ndarray | None, net: PLN) -> Sampler:
    """The level-1 sampler, bound to the budget levels (and the model's shared groups) when it is a budget sampler."""
    if not isinstance(sampler, BudgetSampler):
        return sampler
    if levels is None:
        raise RecError("the budget sampler needs an iso-KL model (posterior = 'isokl'), whose z2 gives the budgets")
    return sampler.bind(levels, net.config.group_budget)


def _decoded(container: Container, net: PLN, level: int, sampler: Sampler, prior: Normal) -> torch.Tensor:
    """Level ``level``'s sample, decoded from the file's payload against ``prior``, as the model takes it."""
    payload = container.section(SectionType.PAYLOAD_LEVEL, level).payload
    return _tensor(sampler.decode(payload, DiagonalGaussian.from_batch(prior), _level_seed(container.header.seed, level)), net)


def _spec(sampler: Sampler) -> SamplerSpec:
    """The sampler for the header: its name and the parameters that differ from the defaults."""
    defaults = type(sampler)().params
    return SamplerSpec(sampler.name, {k: v for k, v in sampler.params.items() if defaults.get(k) != v})


def _level_report(name: str, sampler: Sampler, msg) -> LevelReport:
    """The level's rate; groups and index slack from a grouping sampler's stats (the indexed groups;
    the KL of the groups, importance only), None for the others."""
    stats = msg.stats or {}
    groups = stats.get("indexed_groups")
    slack = None if "group_kl_bits" not in stats else msg.index_bits - float(stats["group_kl_bits"])
    return LevelReport(name, sampler.name, int(msg.sample.size), float(msg.kl_bits), msg.index_bits, msg.side_bits,
                       msg.outlier_bits, groups, slack)


def _distortion_slope(net: PLN, sampler: Sampler, posterior: Normal, prior: Normal, target: torch.Tensor,
                      beta: float | None) -> np.ndarray | None:
    """Level 1's slope for the distortion-guided selection (:func:`rec.samplers.base.guided_coefficients`),
    None when ``sampler`` has no guide: the squared error's gradient at the posterior mean in the
    prior-standardized coordinates, in nats of a Gaussian likelihood whose variance is the mean's
    MSE, σ_p · ∂SSE/∂z1 / (2 MSE). One synthesis forward and backward; encoder-only."""
    if not getattr(sampler, "guide", 0.0):
        return None
    grad, mse = net.distortion_gradient(posterior.mean, target, beta)
    return (grad * prior.std)[0].double().cpu().numpy().reshape(-1) / (2.0 * max(mse, 1e-12))


def _ideal_reconstruction(net: PLN, analysis, height: int, width: int, seed: int) -> np.ndarray:
    """x̂ from an exact posterior sample z2 ~ q(z2|x), z1 ~ q(z1|z2,x) (encoder-private randomness)."""
    latents = net.draw(analysis, generator=torch.Generator().manual_seed(seed))
    return tensor_image(net.synthesize(latents.z1, analysis.beta), height, width)


class RecCodec:
    """Relative entropy coding with the PLN family (PLN, γ-PLN, the one-level VAE)."""

    codec_id = CODEC_ID
    kinds = ("gamma-pln", "pln", "vae")
    #: The curve of ``rec eval`` that each kind's fixed-rate models share, with its title.
    families = {"gamma-pln": "REC γ-PLN", "pln": "REC PLN", "vae": "REC one-level VAE"}
    label = "REC"
    #: The networks run where the model is; the samplers on the CPU. The decoder derives no
    #: discrete decision from the networks' floats, so a file coded on one device decodes
    #: on the other (to within float noise in the reconstruction).
    devices = ("cpu", "cuda")
    rate_name, rate_symbol = "beta", "β"  # the rate parameter of a variable-rate model
    larger_rate_more_bits = False  # a larger β weighs the KL more: fewer bits

    def prepare(self, model: PLN) -> PLN:
        # channels_last runs the PLN's convolutions about 1.5× faster on the CPU
        return model.eval().to(memory_format=torch.channels_last)

    @torch.no_grad()
    def compress(self, rgb: np.ndarray, net: PLN, *, samplers=None, seed: int = 0, beta: float | None = None,
                 ideal: bool = False, started: float | None = None) -> Compressed:
        """REC: level 2 coded first, level 1 from the coded z2 (see :func:`rec.codec.compress`)."""
        started = time.perf_counter() if started is None else started
        net.rate_weights(beta)  # refuses a β the model cannot take, before any work
        s2, s1 = coding_samplers(net, beta, samplers)
        if not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
            raise RecError(f"seed must be an integer in 0 .. 2**64 - 1, got {seed!r}")
        seed = int(seed)
        beta = _rate(net, beta)
        height, width = rgb.shape[:2]
        x = model_input(rgb, net.config.factor).to(net.device)
        analysis = net.analyze(x, beta)
        levels, sections, specs = [], [], []

        def code(name: str, level: int, sampler: Sampler, posterior: Normal, prior: Normal,
                 slope: np.ndarray | None = None) -> torch.Tensor:
            msg = sampler.encode(DiagonalGaussian.from_batch(posterior), DiagonalGaussian.from_batch(prior),
                                 _level_seed(seed, level), slope=slope)
            levels.append(_level_report(name, sampler, msg))
            sections.append(Section(SectionType.PAYLOAD_LEVEL, level, msg.to_bytes()))
            specs.append(_spec(sampler))
            return _tensor(msg.sample, net)

        if isinstance(s1, BudgetSampler) and net.config.posterior != "isokl":
            _bound(s1, None, net)  # refuses before any coding

        def level1(prior: Normal, levels: np.ndarray | None) -> torch.Tensor:
            sampler, posterior = _bound(s1, levels, net), net.level1_posterior(analysis.level1, prior, net.budget_bits(levels))
            target = x[:, :, :height, :width]
            return code("z1", 1, sampler, posterior, prior, _distortion_slope(net, sampler, posterior, prior, target, beta))

        z2, _ = _chain(net, net.latent_shapes(height, width), beta,
                       lambda prior: code("z2", 2, s2, analysis.q2, prior), level1)
        if beta is not None:
            sections.insert(0, rate_section(beta))
        header = Header(width, height, CODEC_ID, getattr(net, "name", ""), model_hash(net), seed, tuple(specs))
        data = Compressed(Container(header, tuple(sections)).to_bytes())
        encode_seconds = time.perf_counter() - started

        kl = sum(level.kl_bits for level in levels)
        payload_bits = sum(level.bits for level in levels)
        data.report = Report(
            width=width, height=height, bytes=len(data), bpp=8 * len(data) / (width * height),
            model=getattr(net, "name", ""), samplers=f"{s2.name}:{s1.name}" if z2 is not None else s1.name, seed=seed,
            levels=levels, kl_bits=kl, bound_bits=kl + 2 * math.log2(kl + 1), container_bits=8 * len(data) - payload_bits,
            encode_seconds=encode_seconds, beta=beta,
        )
        if ideal:
            data.report.ideal_psnr, data.report.ideal_ms_ssim = distortion(
                rgb, _ideal_reconstruction(net, analysis, height, width, seed))
        return data

    @torch.no_grad()
    def decompress(self, data: bytes, container: Container, net: PLN) -> np.ndarray:
        h = container.header
        if not same_weights(h.model_hash, model_hash(net)):
            raise FormatError(f"file was made with model {h.model_id!r} (weights {h.model_hash.hex()}), "
                              f"not with {getattr(net, 'name', 'the given model')!r} (weights {model_hash(net).hex()})")
        shapes = net.latent_shapes(h.height, h.width)
        if len(h.samplers) != len(shapes):
            raise FormatError(f"file lists {len(h.samplers)} sampler levels, the model has {len(shapes)}")
        beta = checked_rate(container, net)
        try:
            samplers = [make(s.name, **s.as_dict()) for s in h.samplers]
        except RecError as e:
            raise FormatError(f"file names an invalid sampler: {e}") from None

        try:
            _, z1 = _chain(net, shapes, beta, lambda prior: _decoded(container, net, 2, samplers[0], prior),
                           lambda prior, levels: _decoded(container, net, 1, _bound(samplers[-1], levels, net), prior))
        except RecError as e:
            if isinstance(e, FormatError):
                raise
            raise FormatError(f"file cannot be decoded with model {getattr(net, 'name', '')!r}: {e}") from None
        return tensor_image(net.synthesize(z1, beta), h.height, h.width)

    def written(self, container: Container, net: PLN) -> list[LevelBits]:
        h = container.header
        shapes = net.latent_shapes(h.height, h.width)
        if len(h.samplers) != len(shapes):
            raise FormatError(f"file lists {len(h.samplers)} sampler levels, the model has {len(shapes)}")
        out, z2 = [], None
        for (name, level), spec, shape in zip((("z2", 2), ("z1", 1))[-len(shapes):], h.samplers, shapes[::-1]):
            try:
                sampler = make(spec.name, **spec.as_dict())
            except RecError as e:
                raise FormatError(f"file names an invalid sampler: {e}") from None
            payload = container.section(SectionType.PAYLOAD_LEVEL, level).payload
            if level == 2 and h.samplers[-1].name == BudgetSampler.name and net.config.posterior == "isokl":
                # the budget sampler's groups follow from z2: decode it (exact, small) for the counts
                z2 = _decoded(container, net, 2, sampler, net.level2_prior(shape))
            if isinstance(sampler, BudgetSampler) and z2 is not None:
                sampler = _bound(sampler, net.level1_budget(z2, checked_rate(container, net)), net)
            b = sampler.inspect(payload, shape[1:])  # no batch
            out.append(LevelBits(name, spec.name, b.index_bits, b.side_bits, b.outlier_bits, b.groups, b.outliers))
        return out

    def rate_label(self, config) -> str:
        beta = f"{config.beta_min:g}-{config.beta_max:g}" if config.variable_rate else f"{config.beta:g}"
        return (f"β={beta:<9}" + (f"γ∞={config.gamma_inf:<7g}" if config.kind == "gamma-pln" else "")).ljust(28)

    # -- training (rec.training.loop) ---------------------------------------------------
    def losses(self, net, x, *, warmup: float, sample: bool, beta):
        return net(x, warmup, sample=sample, beta=beta)

    def log_scalars(self, losses) -> dict[str, float]:
        return {"loss": losses.loss.item(), "distortion": losses.distortion.item(), "bpp": losses.bpp.item(),
                "kl1_bits": losses.kl1_bits.item(), "kl2_bits": losses.kl2_bits.item(), "gamma": losses.gamma.item()}

    def level_bits(self, losses):
        return losses.kl1_bits, losses.kl2_bits

    def level1_channels(self, losses):
        return losses.kl1_channels

    def parameter_groups(self, model, gamma_lr_scale: float) -> list[dict]:
        # log γ gets its own, faster learning rate: at α0 it would need ~10^4 steps to reach γ∞
        others = [p for n, p in model.named_parameters() if n != "log_gamma"]
        return [{"params": others, "lr_scale": 1.0}, {"params": [model.log_gamma], "lr_scale": gamma_lr_scale}]


register(RecCodec())
