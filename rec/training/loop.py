"""The training loop: Adam, learning-rate schedule, KL warm-up, weight EMA, validation, exact resume.

Everything a step does is a function of (seed, step) and the saved state:
the batch (see :mod:`rec.training.data`), the rate parameter of each crop for a
variable-rate model (log-uniform in its ``config.rate_range``: β of a γ-PLN in
[β_min, β_max], λ of an mbt2018 in [λ_min, λ_max], or the part of it that
``train.rate_min`` / ``rate_max`` keep; passed to the codec's
``losses`` as ``beta``), the reparametrization
noise (the torch generator is reseeded every step), the learning rate and the
warm-up factor min(t/W, 1). A checkpoint therefore only holds the weights,
their EMA, Adam's moments and the step, and resuming reproduces the
uninterrupted run.

Learning rate: the thesis's α(t) = α0·r^(t/D) (section 4.1), which never anneals,
or cosine cycles of ``lr_cycle`` steps (Loshchilov & Hutter 2017), each with a
linear warm-up and ending at ``lr_final``·α0, so that the end of every cycle is a
shippable, annealed model and a long run is a sequence of resumable chunks.
With ``ema`` the exported weights are the exponential moving average
θ̄ ← d·θ̄ + (1 − d)·θ, d = min(ema, (1 + t)/(10 + t)) (Polyak averaging).

Data parallelism: started under ``torchrun --nproc-per-node R``, every rank
takes rows r::R of the step's global batch and DistributedDataParallel
averages the gradients (gloo on the CPU), which equals the gradient of the
whole batch's mean loss.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from pytorch_msssim import ms_ssim

from rec.codecs import codec_for_kind
from rec.errors import RecError
from rec.models.pln import active_channels, pad_to_multiple
from rec.models.kinds import build
from rec.training.checkpoint import load_checkpoint, load_weights_into, save_checkpoint
from rec.training.config import RunConfig
from rec.training.data import PatchDataset, load_images

__all__ = ["Trainer", "ValidationResult", "learning_rate", "annealed_rate", "cosine_rate", "scheduled_rate", "warmup_factor", "fast_bf16",
           "draw_betas", "validation_betas", "save_checkpoint", "load_checkpoint"]


def learning_rate(step: int, lr0: float, decay: float, decay_steps: int) -> float:
    """α(t) = α0 · r^(t/D) (thesis section 4.1)."""
    return lr0 * decay ** (step / decay_steps)


def annealed_rate(p: float, lr0: float, final: float) -> float:
    """α0·(f + (1 − f)·½(1 + cos πp)) at the position p ∈ [0, 1] of a cosine cycle, reaching f·α0."""
    return lr0 * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def cosine_rate(step: int, lr0: float, warmup: int, cycle: int, final: float) -> float:
    """Cosine cycles of ``cycle`` steps: linear warm-up over ``warmup`` steps, then
    :func:`annealed_rate` at the position after the warm-up."""
    t = step % cycle
    if t < warmup:
        return lr0 * (t + 1) / warmup
    return annealed_rate((t - warmup) / max(1, cycle - warmup - 1), lr0, final)


def scheduled_rate(step: int, t) -> float:
    """The learning rate of step ``step`` under the schedule of TrainConfig ``t``."""
    if t.schedule == "cosine":
        return cosine_rate(step, t.lr, t.lr_warmup, t.lr_cycle or t.steps, t.lr_final)
    return learning_rate(step, t.lr, t.lr_decay, t.lr_decay_steps)


def fast_bf16(device: str) -> bool:
    """Whether bf16 autocast pays on ``device``: CUDA, or a CPU with native bf16 arithmetic.

    On a CPU with AVX2 only, bf16 convolutions are emulated and ran 9× slower than fp32
    (13.5 s against 1.4 s for a step of the variable-rate config); with AMX or
    AVX-512 BF16 they run 2.5-3× faster.
    """
    if device == "cuda":
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def draw_betas(seed: int, step: int, size: int, beta_min: float, beta_max: float) -> torch.Tensor:
    """β of each crop of step ``step``'s global batch: log-uniform in [β_min, β_max]."""
    rng = np.random.default_rng([seed, step, 7])
    return torch.from_numpy(np.exp(rng.uniform(math.log(beta_min), math.log(beta_max), size)))


def validation_betas(config) -> list[float | None]:
    """Rates (β, or λ of mbt2018) at which a model is validated: a variable-rate model's range ends and
    its middle (in log rate); [None] (its one rate) for a fixed-rate model."""
    rate_range = getattr(config, "rate_range", None)
    if rate_range is None:
        return [None]
    lo, hi = math.log(rate_range[0]), math.log(rate_range[1])
    return [round(math.exp(lo + (hi - lo) * f), 6) for f in (0.0, 0.5, 1.0)]


#: Updates skipped in a row (non-finite gradients) before a run stops as diverged.
_MAX_BAD_STEPS = 20


def warmup_factor(step: int, warmup: int) -> float:
    """min(t/W, 1), the KL warm-up of Sønderby et al. (2016) (thesis section 3.3)."""
    return 1.0 if warmup <= 0 else min(step / warmup, 1.0)


@dataclass
class ValidationResult:
    loss: float
    kl1_bits: float  # mean per image
    kl2_bits: float
    bpp: float
    psnr: float
    ms_ssim: float
    beta: float | None = None  # the rate parameter it was measured at (variable-rate models: β, or λ of mbt2018)
    active_channels: int | None = None  # level-1 channels carrying 90 % of the level-1 KL (PLNs)


class Trainer:
    """Trains one model into ``out`` (checkpoint ``last.pt``, ``log.jsonl``, ``config.json``)."""

    def __init__(self, config: RunConfig, out: str | Path, progress: bool = True):
        self.config = config
        self.out = Path(out)
        self.progress = progress
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("gloo")
        torch.manual_seed(config.train.seed)  # the initialization, too, is a function of the config
        self.codec = codec_for_kind(config.model.kind)  # the objective of the model's codec (rec.codecs)
        self.model = build(config.model)
        groups = self.codec.parameter_groups(self.model, config.train.gamma_lr_scale)
        self.optimizer = torch.optim.Adam(groups, lr=config.train.lr)
        self.step = 0
        t = config.train
        if t.device == "cuda" and not torch.cuda.is_available():
            raise RecError("train.device = 'cuda', but this torch sees no CUDA device")
        self.device = torch.device(t.device)
        self.bf16 = t.bf16 and fast_bf16(t.device)
        self.ema = None
        if t.ema:
            self.ema = copy.deepcopy(self.model).requires_grad_(False)
        ckpt_path = self.out / "last.pt"
        if ckpt_path.exists():
            ckpt = load_checkpoint(ckpt_path)
            if ckpt["config"].model != config.model:
                raise RecError(f"{ckpt_path} was trained with another model config: {ckpt['config'].model}")
            self.model.load_state_dict(ckpt.get("raw", ckpt["model"]))
            if self.ema is not None:
                self.ema.load_state_dict(ckpt["model"])
            self.step = ckpt["step"]
        elif t.init:
            only = t.prefixes(t.init_only)
            fresh = load_weights_into(self.model, t.init, strict=t.init_strict, only=only)
            if fresh and self.is_main:
                print(f"not in {t.init} (left at initialization): {', '.join(fresh)}", flush=True)
            if self.ema is not None:
                self.ema.load_state_dict(self.model.state_dict())
        self.model = self.model.to(self.device, memory_format=torch.channels_last)
        if self.ema is not None:
            self.ema = self.ema.to(self.device, memory_format=torch.channels_last)
        if ckpt_path.exists():  # after the move, so that Adam's moments land on the parameters' device
            self.optimizer.load_state_dict(ckpt["optimizer"])
        if t.freeze_steps and self.world > 1:
            raise RecError("train.freeze_steps is single-process: DDP needs a fixed set of trained parameters")
        self.ddp = torch.nn.parallel.DistributedDataParallel(self.model) if self.world > 1 else None
        self.bad_steps = 0  # updates skipped in a row for a non-finite gradient
        #: the learning rate of a step, when not the config's schedule (scripts/train_device.py: over wall time)
        self.lr_schedule: Callable[[int], float] | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def train_step(self, batch: torch.Tensor) -> dict:
        """One optimizer step on this rank's rows of the global batch."""
        t = self.config.train
        torch.manual_seed(hash((t.seed, self.step, self.rank)) & 0x7FFFFFFF)
        lr = scheduled_rate(self.step, t) if self.lr_schedule is None else self.lr_schedule(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        if t.freeze_steps:  # held parameters get no gradient, so Adam neither moves them nor updates their moments
            held = self.step < t.freeze_steps
            for name, param in self.model.named_parameters():
                if name.startswith(t.freeze_prefixes):
                    param.requires_grad_(not held)
        losses = self.backward(batch, beta=self.betas(t.batch))
        # the gradient's norm (clipped to grad_clip if set): non-finite exactly when some gradient
        # is (a NaN or inf loss; the same on every rank under DDP, as the gradient is averaged),
        # and then the update is skipped instead of poisoning the weights and Adam's state
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip if t.grad_clip > 0 else math.inf)
        if torch.isfinite(grad_norm):
            self.optimizer.step()
            self._update_ema()
            self.bad_steps = 0
        else:
            self.bad_steps += 1
            if self.bad_steps >= _MAX_BAD_STEPS:
                raise RecError(f"training diverged: {self.bad_steps} steps in a row with a non-finite gradient "
                               f"(step {self.step + 1}); lower train.lr or resume from an earlier checkpoint")
        self.step += 1
        return {"step": self.step, **self.codec.log_scalars(losses), "lr": lr, "grad_norm": float(grad_norm)}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        d = min(self.config.train.ema, (1 + self.step) / (10 + self.step))
        ema, raw = list(self.ema.parameters()), list(self.model.parameters())
        torch._foreach_lerp_(ema, raw, 1 - d)
        for b_ema, b in zip(self.ema.buffers(), self.model.buffers()):
            b_ema.copy_(b)

    def betas(self, size: int) -> torch.Tensor | None:
        """This rank's rate parameters of the step's crops (variable-rate models: β, or λ of mbt2018), else None."""
        rates = self.config.sampled_rates
        if rates is None:
            return None
        return draw_betas(self.config.train.seed, self.step, size, *rates)[self.rank :: self.world]

    def backward(self, batch: torch.Tensor, sample: bool = True, beta: torch.Tensor | None = None):
        """Loss of this rank's rows and its gradient (averaged over ranks under DDP) in ``.grad``."""
        t = self.config.train
        net = self.ddp or self.model
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            x = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            losses = self.codec.losses(net, x, warmup=warmup_factor(self.step, t.warmup), sample=sample, beta=beta)
        self.optimizer.zero_grad(set_to_none=True)
        losses.loss.backward()
        return losses

    @torch.no_grad()
    def validate(self, images: list[np.ndarray], beta: float | None = None) -> ValidationResult:
        """Whole validation images through the posterior means (fp32, the EMA weights if any):
        loss, KL, bpp, PSNR, MS-SSIM, at rate ``beta`` for a variable-rate model."""
        model = self.ema or self.model
        model.eval()
        rows, kl1_channels, per_channel = [], 0.0, False
        for im in images:
            x = torch.from_numpy(im.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(self.device)
            h, w = x.shape[-2:]
            xp = pad_to_multiple(x, self.config.model.factor)
            # inference: the posterior means (REC), ŷ rounded around the predicted means, sequentially (mbt2018)
            losses = self.codec.losses(model, xp, warmup=1.0, sample=False,
                                       beta=None if beta is None else torch.tensor([beta], dtype=torch.float64))
            x_hat = losses.x_hat[..., :h, :w].clamp(0, 1)
            mse = torch.mean((x - x_hat) ** 2).item()
            msssim = ms_ssim(x, x_hat, data_range=1.0).item() if min(h, w) > 160 else float("nan")
            b1, b2 = self.codec.level_bits(losses)  # level 1 / level 2: y / z for mbt2018 (as its container sections)
            channels = self.codec.level1_channels(losses)
            if channels is not None:
                per_channel = True
                kl1_channels = kl1_channels + channels.double().cpu().numpy()
            rows.append((losses.loss.item(), b1.item(), b2.item(), (b1 + b2).item() / (h * w), -10 * math.log10(mse), msssim))
        rows = np.array(rows)
        m = rows.mean(axis=0)
        finite = np.isfinite(rows[:, 5])
        m[5] = rows[finite, 5].mean() if finite.any() else float("nan")  # MS-SSIM needs sides > 160 px
        active = active_channels(kl1_channels) if per_channel else None
        return ValidationResult(*map(float, m), beta=beta, active_channels=active)

    def _truncate_log(self) -> None:
        """Drop log records of steps after the checkpoint: a resumed run logs them again."""
        path = self.out / "log.jsonl"
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        keep = [line for line in lines if line.strip() and json.loads(line)["step"] <= self.step]
        if len(keep) != len(lines):
            path.write_text("".join(line + "\n" for line in keep))

    def run(self, minutes: float | None = None, on_checkpoint=None, on_step=None) -> None:
        """Train to ``train.steps`` (or until ``minutes`` have passed: then a checkpoint is written
        and the run can be resumed). ``on_checkpoint(trainer)`` is called after each checkpoint,
        ``on_step(trainer)`` after each step of a single-process run: a true return ends the run
        there as the time limit does (scripts/train_device.py's pacing).

        On CUDA the crops of the next steps are cut by a few threads while the device works (PIL
        releases the GIL); a batch is still a function of its step alone, so nothing changes but speed."""
        t = self.config.train
        if minutes is not None and self.world > 1:
            raise RecError("a time-limited run is single-process: the ranks would disagree on when to stop")
        deadline = None if minutes is None else time.time() + 60 * minutes
        data = PatchDataset(load_images(t.data), t.crop, t.seed, augment=t.augment)
        val_images = load_images(t.val) if self.is_main and t.val else []
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        if self.is_main:
            self._truncate_log()
        log = open(self.out / "log.jsonl", "a") if self.is_main else None
        bar = None
        if self.is_main and self.progress:
            from tqdm import tqdm

            bar = tqdm(total=t.steps, initial=self.step, dynamic_ncols=True, desc=self.out.name)
        started, step0 = time.time(), self.step
        loader = ThreadPoolExecutor(4) if self.device.type == "cuda" else None
        ahead: dict[int, object] = {}

        def batch(step: int) -> torch.Tensor:
            if loader is None:
                return data.batch(step, t.batch, self.rank, self.world)
            for s in range(step, min(step + 8, t.steps)):
                if s not in ahead:
                    ahead[s] = loader.submit(data.batch, s, t.batch, self.rank, self.world)
            return ahead.pop(step).result()

        try:
            while self.step < t.steps:
                record = self.train_step(batch(self.step))
                stop = bool(on_step(self)) if on_step is not None and self.world == 1 else False
                if not self.is_main:
                    continue
                record["time"] = time.time()
                if val_images and (self.step % t.val_every == 0 or self.step == t.steps):
                    vals = [self.validate(val_images, b).__dict__ for b in validation_betas(self.config.model)]
                    record["val"] = vals[0] if len(vals) == 1 else vals
                out_of_time = stop or (deadline is not None and time.time() >= deadline)
                if self.step % t.checkpoint_every == 0 or self.step == t.steps or out_of_time:
                    save_checkpoint(self.out / "last.pt", self.model, self.optimizer, self.step, self.config, self.ema)
                    if on_checkpoint is not None:
                        on_checkpoint(self)
                log.write(json.dumps(record) + "\n")
                log.flush()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", bpp=f"{record['bpp']:.3f}", gamma=f"{record.get('gamma', float('nan')):.3f}",
                                    s_per_step=f"{(time.time() - started) / (self.step - step0):.2f}")
                if out_of_time:
                    break
        finally:
            if loader is not None:
                loader.shutdown(cancel_futures=True)
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
