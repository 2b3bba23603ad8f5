"""The mbt2018 codec: the quantized reference (Minnen et al. 2018) behind the same front door as REC.

The engine — entropy models, range coding with constriction, escapes, the bit-exact
determinism of both sides — is :mod:`rec.reference`; this module adapts it to the
:class:`~rec.codecs.base.Codec` interface: y and z take the places of z1 and z2 in the
:class:`~rec.codecs.base.Report`. Its ``kl_bits`` is the model's own estimate −Σ log2 P of
the quantized latents (what an ideal entropy coder would write), ``bound_bits`` the same figure.

A variable-rate model's rate parameter is λ: the front door's ``beta`` / ``rate`` option sets it,
the file carries it in its RATE section (:mod:`rec.reference`), and the report's ``beta`` holds it
(:attr:`Mbt2018Codec.rate_name` tells the two apart). Training passes the per-crop λ as ``beta``.
"""

from __future__ import annotations

import time

import numpy as np

from rec import reference
from rec.codecs.base import Compressed, LevelBits, LevelReport, Report, model_hash, section_bits
from rec.codecs.registry import register
from rec.container import Container
from rec.models.joint import JointPrior

__all__ = ["CODEC_ID", "Mbt2018Codec"]

CODEC_ID = reference.CODEC_ID


class Mbt2018Codec:
    """The quantized mbt2018 reference: no samplers, no seed; variable-rate models take λ."""

    codec_id = CODEC_ID
    devices = ("cpu",)  # its decoder's exact (fixed-point, portable) entropy model is checked on the CPU only
    kinds = ("mbt2018",)
    label = "mbt2018 (rec.reference)"
    rate_name, rate_symbol = "lambda", "λ"  # the rate parameter of a variable-rate model
    larger_rate_more_bits = True  # a larger λ weighs the distortion more: more bits

    def prepare(self, model: JointPrior) -> JointPrior:
        return model.eval()  # the reference codec computes in the contiguous layout (rec.reference)

    def compress(self, rgb: np.ndarray, net: JointPrior, *, samplers=None, seed: int = 0, beta: float | None = None,
                 ideal: bool = False, started: float | None = None) -> Compressed:
        """y and z coded with the reference's range coder at rate λ = ``beta`` (a variable-rate model; default
        its ``config.lmbda``; a fixed-rate model refuses one); ``samplers``, ``seed`` and ``ideal`` are unused."""
        started = time.perf_counter() if started is None else started
        height, width = rgb.shape[:2]
        r = reference.encode(net, rgb, getattr(net, "name", ""), model_hash(net), reconstruct=False, lmbda=beta)
        data = Compressed(r.data)
        levels = [LevelReport("z", "quantized", int(r.z_hat.numel()), r.estimated_bits_z, r.bits_z, 0, 0),
                  LevelReport("y", "quantized", int(r.y_hat.numel()), r.estimated_bits_y, r.bits_y, 0, 0)]
        estimate = r.estimated_bits_y + r.estimated_bits_z
        data.report = Report(
            width=width, height=height, bytes=len(data), bpp=8 * len(data) / (width * height), model=getattr(net, "name", ""),
            samplers="quantized", seed=0, levels=levels, kl_bits=estimate, bound_bits=estimate, container_bits=r.overhead_bits,
            encode_seconds=time.perf_counter() - started, beta=r.lmbda)
        return data

    def decompress(self, data: bytes, container: Container, net: JointPrior) -> np.ndarray:
        return reference.decompress(net, bytes(data), model_hash(net))

    def written(self, container: Container, net: JointPrior) -> list[LevelBits]:
        return section_bits(container, (("z", 2), ("y", 1)), "quantized")  # SIDE_INFO: the escape values

    def rate_label(self, config) -> str:
        rate = f"{config.lmbda_min:g}-{config.lmbda_max:g}" if config.variable_rate else f"{config.lmbda:g}"
        return f"λ={rate:<26}"

    # -- training (rec.training.loop) ---------------------------------------------------
    def losses(self, net, x, *, warmup: float, sample: bool, beta):
        # additive uniform noise when sampling; no warm-up; ``beta``: the per-crop λ (B,) of a variable-rate model
        if beta is None:
            return net(x, noise=sample)  # the fixed-rate call, as it always was
        return net(x, noise=sample, lmbda=beta)

    def log_scalars(self, losses) -> dict[str, float]:
        return losses.scalars()  # loss, bpp, bpp_y, bpp_z, bits_y, bits_z, mse, psnr

    def level_bits(self, losses):
        return losses.bits_y, losses.bits_z  # y / z, as the container's sections of levels 1 / 2

    def level1_channels(self, losses):
        return None

    def parameter_groups(self, model, gamma_lr_scale: float) -> list[dict]:
        return [{"params": list(model.parameters()), "lr_scale": 1.0}]


register(Mbt2018Codec())
