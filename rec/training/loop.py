"""The training loop: Adam, exponential learning-rate decay, KL warm-up, validation, exact resume.

Everything a step does is a function of (seed, step) and the saved state:
the batch (see :mod:`rec.training.data`), the reparametrization noise (the
torch generator is reseeded every step), the learning rate α(t) = α0·r^(t/D)
and the warm-up factor min(t/W, 1). A checkpoint therefore only holds the
weights, Adam's moments and the step, and resuming reproduces the
uninterrupted run.

Data parallelism: started under ``torchrun --nproc-per-node R``, every rank
takes rows r::R of the step's global batch and DistributedDataParallel
averages the gradients (gloo on the CPU), which equals the gradient of the
whole batch's mean loss.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from pytorch_msssim import ms_ssim

from rec.errors import RecError
from rec.models.joint import JointConfig, JointPrior
from rec.models.pln import PLN, pad_to_multiple
from rec.training.config import RunConfig
from rec.training.data import PatchDataset, load_images

__all__ = ["Trainer", "ValidationResult", "learning_rate", "warmup_factor", "save_checkpoint", "load_checkpoint"]


def learning_rate(step: int, lr0: float, decay: float, decay_steps: int) -> float:
    """α(t) = α0 · r^(t/D) (thesis section 4.1)."""
    return lr0 * decay ** (step / decay_steps)


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


def save_checkpoint(path: Path, model: PLN, optimizer, step: int, config: RunConfig) -> None:
    """Write atomically (temporary file, then rename)."""
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "config": json.dumps(config.to_dict())},
        tmp,
    )
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as e:
        raise RecError(f"cannot load checkpoint {path}: {e}") from None
    ckpt["config"] = RunConfig.from_dict(json.loads(ckpt["config"]))
    return ckpt


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
        self.joint = isinstance(config.model, JointConfig)  # the quantized mbt2018 reference
        self.model = JointPrior(config.model) if self.joint else PLN(config.model)
        # log γ gets its own, faster learning rate: at α0 it would need ~10^4 steps to reach γ∞
        others = [p for n, p in self.model.named_parameters() if n != "log_gamma"]
        groups = [{"params": others, "lr_scale": 1.0}]
        if not self.joint:
            groups.append({"params": [self.model.log_gamma], "lr_scale": config.train.gamma_lr_scale})
        self.optimizer = torch.optim.Adam(groups, lr=config.train.lr)
        self.step = 0
        ckpt_path = self.out / "last.pt"
        if ckpt_path.exists():
            ckpt = load_checkpoint(ckpt_path)
            if ckpt["config"].model != config.model:
                raise RecError(f"{ckpt_path} was trained with another model config: {ckpt['config'].model}")
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.step = ckpt["step"]
        elif config.train.init:
            from rec.models.zoo import load_weights_into

            fresh = load_weights_into(self.model, config.train.init, strict=config.train.init_strict)
            if fresh and self.is_main:
                print(f"not in {config.train.init} (left at initialization): {', '.join(fresh)}", flush=True)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.ddp = torch.nn.parallel.DistributedDataParallel(self.model) if self.world > 1 else None
        self.bad_steps = 0  # updates skipped in a row for a non-finite gradient

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def train_step(self, batch: torch.Tensor) -> dict:
        """One optimizer step on this rank's rows of the global batch."""
        t = self.config.train
        torch.manual_seed(hash((t.seed, self.step, self.rank)) & 0x7FFFFFFF)
        lr = learning_rate(self.step, t.lr, t.lr_decay, t.lr_decay_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        losses = self.backward(batch)
        # the gradient's norm (clipped to grad_clip if set): non-finite exactly when some gradient
        # is (a NaN or inf loss; the same on every rank under DDP, as the gradient is averaged),
        # and then the update is skipped instead of poisoning the weights and Adam's state
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip if t.grad_clip > 0 else math.inf)
        if torch.isfinite(grad_norm):
            self.optimizer.step()
            self.bad_steps = 0
        else:
            self.bad_steps += 1
            if self.bad_steps >= _MAX_BAD_STEPS:
                raise RecError(f"training diverged: {self.bad_steps} steps in a row with a non-finite gradient "
                               f"(step {self.step + 1}); lower train.lr or resume from an earlier checkpoint")
        self.step += 1
        if self.joint:  # loss, bpp, bpp_y, bpp_z, bits_y, bits_z, mse, psnr
            return {"step": self.step, **losses.scalars(), "lr": lr, "grad_norm": float(grad_norm)}
        return {
            "step": self.step, "loss": losses.loss.item(), "distortion": losses.distortion.item(),
            "bpp": losses.bpp.item(), "kl1_bits": losses.kl1_bits.item(), "kl2_bits": losses.kl2_bits.item(),
            "gamma": losses.gamma.item(), "lr": lr, "grad_norm": float(grad_norm),
        }

    def backward(self, batch: torch.Tensor, sample: bool = True):
        """Loss of this rank's rows and its gradient (averaged over ranks under DDP) in ``.grad``."""
        t = self.config.train
        net = self.ddp or self.model
        self.model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=t.bf16):
            x = batch.contiguous(memory_format=torch.channels_last)
            if self.joint:  # additive uniform noise when sampling; no warm-up
                losses = net(x, noise=sample)
            else:
                losses = net(x, warmup_factor(self.step, t.warmup), sample=sample)
        self.optimizer.zero_grad(set_to_none=True)
        losses.loss.backward()
        return losses

    @torch.no_grad()
    def validate(self, images: list[np.ndarray]) -> ValidationResult:
        """Whole validation images through the posterior means (fp32): loss, KL, bpp, PSNR, MS-SSIM."""
        self.model.eval()
        rows = []
        for im in images:
            x = torch.from_numpy(im.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            h, w = x.shape[-2:]
            xp = pad_to_multiple(x, self.config.model.factor)
            # mbt2018: inference quantization (ŷ rounded around the predicted means, sequentially)
            losses = self.model(xp, noise=False) if self.joint else self.model(xp, sample=False)
            x_hat = losses.x_hat[..., :h, :w].clamp(0, 1)
            mse = torch.mean((x - x_hat) ** 2).item()
            msssim = ms_ssim(x, x_hat, data_range=1.0).item() if min(h, w) > 160 else float("nan")
            # level 1 / level 2: y / z for mbt2018 (as its container sections)
            b1, b2 = (losses.bits_y, losses.bits_z) if self.joint else (losses.kl1_bits, losses.kl2_bits)
            rows.append((losses.loss.item(), b1.item(), b2.item(), (b1 + b2).item() / (h * w), -10 * math.log10(mse), msssim))
        rows = np.array(rows)
        m = rows.mean(axis=0)
        finite = np.isfinite(rows[:, 5])
        m[5] = rows[finite, 5].mean() if finite.any() else float("nan")  # MS-SSIM needs sides > 160 px
        return ValidationResult(*map(float, m))

    def _truncate_log(self) -> None:
        """Drop log records of steps after the checkpoint: a resumed run logs them again."""
        path = self.out / "log.jsonl"
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        keep = [line for line in lines if line.strip() and json.loads(line)["step"] <= self.step]
        if len(keep) != len(lines):
            path.write_text("".join(line + "\n" for line in keep))

    def run(self) -> None:
        t = self.config.train
        data = PatchDataset(load_images(t.data), t.crop, t.seed)
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
        try:
            while self.step < t.steps:
                record = self.train_step(data.batch(self.step, t.batch, self.rank, self.world))
                if not self.is_main:
                    continue
                record["time"] = time.time()
                if self.step % t.val_every == 0 or self.step == t.steps:
                    v = self.validate(val_images)
                    record["val"] = v.__dict__
                if self.step % t.checkpoint_every == 0 or self.step == t.steps:
                    save_checkpoint(self.out / "last.pt", self.model, self.optimizer, self.step, self.config)
                log.write(json.dumps(record) + "\n")
                log.flush()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", bpp=f"{record['bpp']:.3f}", gamma=f"{record.get('gamma', float('nan')):.3f}",
                                    s_per_step=f"{(time.time() - started) / (self.step - step0):.2f}")
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
