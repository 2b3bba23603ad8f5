"""Start an iso-KL model from a residual one: fit its KappaNet to the parent's per-dimension KL.

The iso-KL posterior (rec/models/isokl.py) spends exactly the budget κ that KappaNet derives
from z2 and β. A KappaNet at its initialization (2 bits everywhere) would throw the parent's
rate allocation away; this fits it first, everything else frozen, by L1 regression of κ on
the parent's level-1 KL per dimension (clipped to KappaNet's range) at log-uniform β, on the
training crops. The result is a .safetensors file that `rec train --set train.init=FILE`
continues from (the iso-KL fine-tune, configs/gamma-pln-iso.toml).

    python scripts/fit_kappa.py --parent gamma-pln-vr4 --steps 600 --out runs/kappa-fit.safetensors
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from rec.models.kappa import MAX_LEVEL, LEVELS_PER_BIT
from rec.models.pln import PLN
from rec.models.zoo import load_model
from rec.training.checkpoint import load_weights_into
from rec.training.data import PatchDataset, load_images
from rec.training.loop import draw_betas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parent", default="gamma-pln-vr4")
    ap.add_argument("--data", default="../shared/data/train")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    parent = load_model(args.parent)
    config = dataclasses.replace(parent.config, posterior="isokl")
    net = PLN(config)
    load_weights_into(net, args.parent, strict=False)  # all but KappaNet, which stays at its initialization
    parent = parent.float().eval()
    data = PatchDataset(load_images(args.data), args.crop, args.seed, augment=True)
    opt = torch.optim.Adam(net.kappa.parameters(), lr=args.lr)
    top = MAX_LEVEL / LEVELS_PER_BIT
    started = time.time()
    for step in range(args.steps):
        x = data.batch(step, args.batch)
        beta = draw_betas(args.seed, step, args.batch, config.beta_min, config.beta_max) if config.variable_rate else None
        with torch.no_grad():
            a = parent.analyze(x, beta)
            z2 = a.q2.sample(torch.randn_like(a.q2.mean))
            p1 = parent.level1_prior(z2, beta=beta)
            target = parent.level1_posterior(a.level1, p1).kl(p1).div(math.log(2)).clamp(0, top)
        kappa = net.kappa(z2, beta if beta is not None else config.beta)
        loss = (kappa - target).abs().mean()
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step}: L1 {loss.item():.3f} bits, κ mean {kappa.mean().item():.2f}, KL mean "
                  f"{target.mean().item():.2f} bits, {time.time() - started:.0f} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
