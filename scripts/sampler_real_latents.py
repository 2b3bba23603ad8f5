"""Coded samplers on REAL latents of a model; writes results/samplers_real.md.

Usage:
    python scripts/sampler_real_latents.py [--model NAME] [--rate R] [--kodak DIR]
        [--images kodim23,kodim05,kodim19] [--level1 S:S] [--level2 S:S] [--levels 2,1]
        [--save-latents FILE | --latents FILE] [--out results/samplers_real.md]

The latents are the model's own, computed here: for each photo (``--kodak``, default
../shared/data/kodak) the level-2 posterior q(z2|x) against N(0, I), and, given one exact
sample z2 ~ q(z2|x) (seed 0), the level-1 posterior q(z1|z2,x) against the prior p(z1|z2) at
the model's rate. ``--save-latents`` keeps them (float64 arrays ``<image>_q<l>_mean``,
``<image>_q<l>_std``, ``<image>_p1_mean``, ``<image>_p1_std``) and ``--latents`` reads such a
file instead of running the model, e.g. to compare two sampler versions on the same numbers.

For every setting, image and level: bits / KL, the side-information and
outlier shares, the standardized residual r = (z - mu_q) / sigma_q over
dimensions with KL > 0.05 bit (mean and spread = std; an exact sample has 0
and 1), encode and decode seconds (wall, all cores), and whether the decode
reproduced the sample bit for bit. The findings that chose the codec's
samplers (scripts/samplers_real_notes.md, dated) are appended.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from rec.distributions import DiagonalGaussian
from rec.evaluation.provenance import provenance
from rec.samplers import parse_sampler

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IMAGES = "kodim23,kodim05,kodim19"
NOTES = ROOT / "scripts" / "samplers_real_notes.md"
LEVEL2_SETTINGS = [
    "importance(bits=16,max_group=256,margin=2,temper=1)",  # the old codec default, untempered
    "importance(bits=13,max_group=256,margin=0,temper=8)",  # the codec's (results/level2_budget.md)
    "importance(bits=14,max_group=256,margin=0,temper=8)",
    "importance(bits=16,max_group=256,margin=0,temper=8)",
    "importance(bits=17,max_group=256,margin=0,temper=8)",
]
LEVEL1_SETTINGS = [
    "importance(bits=12,max_group=256,margin=2,temper=1)",  # the old codec default, untempered
    "importance(bits=12,max_group=256,margin=2,temper=8)",  # too much temper for that margin
    "importance(bits=12,max_group=256,margin=0,temper=1)",  # too little margin without temper
    "importance(bits=11,max_group=256,margin=0,temper=8)",  # the codec's (time budget)
    "importance(bits=11,max_group=256,margin=-2,temper=8)",  # gamma-pln-vr4's below β 1 (results/level1_margin_vr4.md)
    "importance(bits=12,max_group=256,margin=0,temper=8)",
    "importance(bits=13,max_group=256,margin=0,temper=8)",
    "importance(bits=12,max_group=256,margin=0.5)",  # automatic temper 2.83: near-exact
    "importance(bits=12,max_group=256,margin=-0.5,temper=8)",  # past the limit
    "rejection(bits=8,table=adaptive)",  # exact reference
]


def model_latents(model, rate, kodak: Path, images: list[str]) -> dict[str, np.ndarray]:
    """Each photo's level-2 posterior and, given an exact sample z2 (seed 0), its level-1 posterior and prior."""
    import torch

    from rec.codec import resolve_model
    from rec.image import read_image
    from rec.models.pln import model_input

    net = resolve_model(model)
    out = {}
    with torch.no_grad():
        for image in images:
            x = model_input(read_image(kodak / f"{image}.png"), net.config.factor)
            analysis = net.analyze(x, rate)
            latents = net.draw(analysis, generator=torch.Generator().manual_seed(0))
            for key, normal in (("q2", analysis.q2), ("q1", latents.q1), ("p1", latents.p1)):
                g = DiagonalGaussian.from_batch(normal)
                out[f"{image}_{key}_mean"], out[f"{image}_{key}_std"] = g.mean, g.std
    return out


def load(latents: dict, image: str, level: int):
    q = DiagonalGaussian(latents[f"{image}_q{level}_mean"], latents[f"{image}_q{level}_std"])
    if f"{image}_p{level}_mean" in latents:
        p = DiagonalGaussian(latents[f"{image}_p{level}_mean"], latents[f"{image}_p{level}_std"])
    else:
        p = DiagonalGaussian(np.zeros(q.shape), np.ones(q.shape))
    return q, p


def _ks_normal(r: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance of the residuals to N(0, 1) (an exact
    sampler gives about 0.9 / sqrt(n), ~0.004 for 60 000 dims)."""
    from scipy.special import ndtr

    x = np.sort(r)
    n = x.size
    cdf = ndtr(x)
    return float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))


def run_one(setting: str, q, p, seed: int = 1, repeats: int = 1) -> dict:
    s = parse_sampler(setting)
    s.encode(q, p, seed + 1000)  # warm up (numba compile / caches)
    t_enc = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        msg = s.encode(q, p, seed)
        t_enc.append(time.perf_counter() - t0)
    data = msg.to_bytes()
    s.decode(data, p, seed)
    t0 = time.perf_counter()
    z = s.decode(data, p, seed)
    t_dec = time.perf_counter() - t0
    kl = (q.kl(p) / np.log(2)).reshape(-1)
    inf = kl > 0.05
    r = ((z - q.mean) / q.std).reshape(-1)[inf]
    if r.size == 0:  # no informative dimension (an untrained model): no residual statistics
        r = np.full(1, np.nan)
    ks = _ks_normal(r) if np.isfinite(r).all() else float("nan")
    return dict(setting=setting, kl=msg.kl_bits, bits=msg.total_bits, index=msg.index_bits,
                side=msg.side_bits, outlier=msg.outlier_bits, enc=min(t_enc), dec=t_dec,
                r_mean=float(r.mean()), r_std=float(r.std()), r_ks=ks, exact=bool(np.array_equal(z, msg.sample)),
                groups=msg.stats.get("groups", 0))


def table(rows) -> list[str]:
    out = ["| setting | image | KL bits | bits | bits/KL | index/KL | side % | outlier % | groups | extra bits/group | r mean | r spread | r KS | enc s | dec s | exact |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| `{r['setting']}` | {r['image']} | {r['kl']:.0f} | {r['bits']} | {r['bits'] / r['kl']:.3f} | "
            f"{r['index'] / r['kl']:.3f} | {100 * r['side'] / r['bits']:.1f} | {100 * r['outlier'] / r['bits']:.1f} | "
            f"{r['groups']} | {(r['bits'] - r['kl']) / r['groups'] if r['groups'] else float('nan'):.2f} | {r['r_mean']:+.3f} | {r['r_std']:.3f} | {r['r_ks']:.3f} | {r['enc']:.2f} | {r['dec']:.3f} | "
            f"{'yes' if r['exact'] else 'NO'} |")
    return out


def summary(rows) -> list[str]:
    out = ["| setting | mean bits/KL | total bits/KL | side % | r mean | r spread (min-max) | r KS (max) | enc s (max) | dec s (max) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for setting in dict.fromkeys(r["setting"] for r in rows):
        rs = [r for r in rows if r["setting"] == setting]
        out.append(
            f"| `{setting}` | {np.mean([r['bits'] / r['kl'] for r in rs]):.3f} | "
            f"{sum(r['bits'] for r in rs) / sum(r['kl'] for r in rs):.3f} | "
            f"{100 * sum(r['side'] for r in rs) / sum(r['bits'] for r in rs):.1f} | "
            f"{np.mean([r['r_mean'] for r in rs]):+.3f} | "
            f"{min(r['r_std'] for r in rs):.3f}-{max(r['r_std'] for r in rs):.3f} | "
            f"{max(r['r_ks'] for r in rs):.3f} | "
            f"{max(r['enc'] for r in rs):.2f} | {max(r['dec'] for r in rs):.3f} |")
    return out


def main(argv=None) -> int:
    from rec.models.zoo import DEFAULT_MODEL

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, help="zoo name, checkpoint or shard folder")
    ap.add_argument("--rate", type=float, default=None, help="β of a variable-rate model (default: its own)")
    ap.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    ap.add_argument("--images", default=DEFAULT_IMAGES)
    ap.add_argument("--latents", default=None, help="read the latents from this .npz instead of running the model")
    ap.add_argument("--save-latents", default=None, help="write the model's latents to this .npz")
    ap.add_argument("--level1", default=None, help="':'-separated settings for level 1")
    ap.add_argument("--level2", default=None, help="':'-separated settings for level 2")
    ap.add_argument("--levels", default="2,1")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--notes", default=str(NOTES), help="a Markdown file appended to the report ('' for none)")
    ap.add_argument("--out", default=str(ROOT / "results" / "samplers_real.md"))
    args = ap.parse_args(argv)
    images = args.images.split(",")
    settings = {1: args.level1.split(":") if args.level1 else LEVEL1_SETTINGS,
                2: args.level2.split(":") if args.level2 else LEVEL2_SETTINGS}
    if args.latents:
        latents, source = dict(np.load(args.latents)), f"`{args.latents}`"
    else:
        latents = model_latents(args.model, args.rate, Path(args.kodak), images)
        source = f"model `{args.model}`" + (f" at β = {args.rate:g}" if args.rate is not None else " at its default rate")
        if args.save_latents:
            np.savez(args.save_latents, **latents)
    first = images[0]
    shapes = {lv: latents[f"{first}_q{lv}_mean"].shape for lv in (1, 2)}
    lines = ["# Coded samplers on real latents", "", provenance(__file__, argv), "",
             f"- data: the latents of {source} on {', '.join(images)} ({args.kodak}); level 1 = "
             f"{'x'.join(map(str, shapes[1]))} dims for {first}, level 2 = {'x'.join(map(str, shapes[2]))}, "
             "level-2 prior N(0, 1); the level-1 prior given an exact sample z2 ~ q(z2|x) (seed 0)",
             "- bits = 8 * len(message); r = (z - mu_q) / sigma_q over dims with KL > 0.05 bit; "
             "exact = decode equals the encoder's sample bit for bit; seed 1; times on all cores", ""]
    for level in map(int, args.levels.split(",")):
        rows = []
        for setting in settings[level]:
            for image in images:
                q, p = load(latents, image, level)
                row = run_one(setting, q, p, repeats=args.repeats)
                row["image"] = image
                rows.append(row)
                print(f"L{level} {image} {setting}: {row['bits'] / row['kl']:.3f} x KL "
                      f"(index {row['index'] / row['kl']:.3f}, side {row['side'] / row['kl']:.3f}, "
                      f"outl {row['outlier'] / row['kl']:.3f}) r {row['r_mean']:+.3f}/{row['r_std']:.3f} ks {row['r_ks']:.3f} "
                      f"enc {row['enc']:.2f} dec {row['dec']:.3f} exact {row['exact']}", flush=True)
        lines += [f"## Level {level}", "", "Summary over the images:", ""] + summary(rows) + ["", "Per image:", ""] + table(rows) + [""]
    if args.notes:
        lines += ["", Path(args.notes).read_text()]
    if args.out != "-":
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
