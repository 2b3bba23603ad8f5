"""Coded samplers on REAL latents of the model; writes results/samplers_real.md.

Usage:
    nice -n 19 env OMP_NUM_THREADS=1 python scripts/sampler_real_latents.py \
        [--latents /work/runs/real_latents.npz] [--images kodim23,kodim05,kodim19] \
        [--settings "importance(bits=12):importance(bits=16)"] [--level 1|2|both] \
        [--out results/samplers_real.md]

The latents file (not in the repo) holds float64 arrays ``<image>_q<l>_mean``,
``<image>_q<l>_std`` (posterior of level l) and ``<image>_p1_mean``,
``<image>_p1_std`` (level-1 prior; the level-2 prior is N(0, 1)).

For every setting, image and level: bits / KL, the side-information and
outlier shares, the standardized residual r = (z - mu_q) / sigma_q over
dimensions with KL > 0.05 bit (mean and spread = std; an exact sample has 0
and 1), encode and decode seconds (wall, one thread, on a machine shared with
a training job), and whether the decode reproduced the sample bit for bit.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time

import numpy as np

from rec.distributions import DiagonalGaussian
from rec.samplers import parse_sampler
from rec.evaluation.machine import machine

DEFAULT_LATENTS = "/work/runs/real_latents.npz"
DEFAULT_IMAGES = "kodim23,kodim05,kodim19"
LEVEL2_SETTINGS = [
    "importance(bits=16,max_group=256,margin=2,temper=1)",  # the old codec default, untempered
    "importance(bits=14,max_group=256,margin=0,temper=8)",
    "importance(bits=16,max_group=256,margin=0,temper=8)",  # recommended
    "importance(bits=17,max_group=256,margin=0,temper=8)",
]
LEVEL1_SETTINGS = [
    "importance(bits=12,max_group=256,margin=2,temper=1)",  # the old codec default, untempered
    "importance(bits=12,max_group=256,margin=2,temper=8)",  # too much temper for that margin
    "importance(bits=12,max_group=256,margin=0,temper=1)",  # too little margin without temper
    "importance(bits=11,max_group=256,margin=0,temper=8)",  # recommended (time budget)
    "importance(bits=12,max_group=256,margin=0,temper=8)",
    "importance(bits=13,max_group=256,margin=0,temper=8)",
    "importance(bits=12,max_group=256,margin=0.5)",  # automatic temper 2.83: near-exact
    "importance(bits=12,max_group=256,margin=-0.5,temper=8)",  # past the limit
    "rejection(bits=8,table=adaptive)",  # exact reference
]


def load(path: str, image: str, level: int):
    z = np.load(path)
    q = DiagonalGaussian(z[f"{image}_q{level}_mean"], z[f"{image}_q{level}_std"])
    if f"{image}_p{level}_mean" in z:
        p = DiagonalGaussian(z[f"{image}_p{level}_mean"], z[f"{image}_p{level}_std"])
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
    ks = _ks_normal(r)
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latents", default=DEFAULT_LATENTS)
    ap.add_argument("--images", default=DEFAULT_IMAGES)
    ap.add_argument("--level1", default=None, help="':'-separated settings for level 1")
    ap.add_argument("--level2", default=None, help="':'-separated settings for level 2")
    ap.add_argument("--levels", default="2,1")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--notes", default=None, help="a markdown file appended to the report")
    ap.add_argument("--out", default="results/samplers_real.md")
    args = ap.parse_args(argv)
    images = args.images.split(",")
    settings = {1: args.level1.split(":") if args.level1 else LEVEL1_SETTINGS,
                2: args.level2.split(":") if args.level2 else LEVEL2_SETTINGS}
    lines = ["# Coded samplers on real latents", "",
             f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"- machine: {machine()}; one thread (OMP_NUM_THREADS=1, nice 19), the cores are shared "
             "with a training job, so wall times can be inflated up to ~2x",
             f"- data: `{args.latents}` (posterior/prior of the current model), images {', '.join(images)}; "
             "level 1 = 128x32x48 = 196 608 dims, level 2 = 24x8x12 = 2 304 dims, prior N(0, 1)",
             f"- command: `python scripts/sampler_real_latents.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             "- bits = 8 * len(message); r = (z - mu_q) / sigma_q over dims with KL > 0.05 bit; "
             "exact = decode equals the encoder's sample bit for bit; seed 1", ""]
    for level in map(int, args.levels.split(",")):
        rows = []
        for setting in settings[level]:
            for image in images:
                q, p = load(args.latents, image, level)
                row = run_one(setting, q, p, repeats=args.repeats)
                row["image"] = image
                rows.append(row)
                print(f"L{level} {image} {setting}: {row['bits'] / row['kl']:.3f} x KL "
                      f"(index {row['index'] / row['kl']:.3f}, side {row['side'] / row['kl']:.3f}, "
                      f"outl {row['outlier'] / row['kl']:.3f}) r {row['r_mean']:+.3f}/{row['r_std']:.3f} ks {row['r_ks']:.3f} "
                      f"enc {row['enc']:.2f} dec {row['dec']:.3f} exact {row['exact']}", flush=True)
        lines += [f"## Level {level}", "", "Summary over the images:", ""] + summary(rows) + ["", "Per image:", ""] + table(rows) + [""]
    if args.notes:
        with open(args.notes) as f:
            lines += ["", f.read()]
    if args.out != "-":
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
