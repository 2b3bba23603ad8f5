"""Benchmark rec.coding against constriction's range coder; writes results/coder.md.

Usage:
    python scripts/bench_coder.py [--symbols 1000000] [--repeats 3] [--out results/coder.md]

For each (alphabet size, distribution) the same i.i.d. symbol stream is coded by
* rec StaticModel (probabilities quantized to 2**24, AVL-tree decoding),
* rec AdaptiveModel (counts start uniform, learned on the fly),
* constriction.stream.queue.RangeEncoder with a Categorical model (default
  24-bit precision, perfect=False),
and we report compressed size against the information content of the stream
under the true distribution, and encode/decode throughput (best of --repeats;
model construction excluded, numba compiled beforehand).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import datetime
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rec.coding import AdaptiveModel, RangeDecoder, RangeEncoder, StaticModel
from rec.evaluation.machine import machine

try:
    import constriction
except ImportError:  # pragma: no cover
    constriction = None


@dataclass
class Row:
    alphabet: int
    distribution: str
    coder: str
    bytes: int
    ideal_bits: float
    encode_s: float
    decode_s: float
    build_s: float
    n: int

    @property
    def overhead_pct(self) -> float:
        return 100.0 * (8 * self.bytes - self.ideal_bits) / self.ideal_bits


def distributions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A peaked (Zipf s=1.3) and a flat-ish (Dirichlet alpha=1) distribution."""
    zipf = 1.0 / np.arange(1, n + 1) ** 1.3
    return {
        "zipf(1.3)": zipf / zipf.sum(),
        "dirichlet(1)": rng.dirichlet(np.ones(n)),
    }


def best_of(repeats: int, fn):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_rec(kind: str, p: np.ndarray, symbols: np.ndarray, repeats: int):
    """Adaptive models are stateful: every encode and decode gets a fresh one."""
    def build():
        return StaticModel.from_probabilities(p) if kind == "static" else AdaptiveModel(len(p))

    build_s, _ = best_of(1, build)
    enc_models = [build() for _ in range(repeats)]
    dec_models = [build() for _ in range(repeats)]

    def encode():
        enc = RangeEncoder()
        enc.encode(symbols, enc_models.pop())
        return enc.finish()

    enc_s, data = best_of(repeats, encode)

    def decode():
        dec = RangeDecoder(data)
        out = dec.decode(len(symbols), dec_models.pop())
        dec.finish()
        return out

    dec_s, out = best_of(repeats, decode)
    assert np.array_equal(out, symbols), f"rec {kind} round trip failed"
    return len(data), enc_s, dec_s, build_s


def bench_constriction(p: np.ndarray, symbols: np.ndarray, repeats: int):
    model_cls = constriction.stream.model.Categorical
    t = time.perf_counter()
    model = model_cls(p.astype(np.float64), perfect=False)
    build_s = time.perf_counter() - t
    sym32 = symbols.astype(np.int32)

    def encode():
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(sym32, model)
        return enc.get_compressed()

    enc_s, compressed = best_of(repeats, encode)

    def decode():
        return constriction.stream.queue.RangeDecoder(compressed).decode(model, len(sym32))

    dec_s, out = best_of(repeats, decode)
    assert np.array_equal(out, sym32), "constriction round trip failed"
    return compressed.nbytes, enc_s, dec_s, build_s


def render(rows: list[Row], args, elapsed: float) -> str:
    import numba
    lines = [
        "# Entropy coder benchmark: rec.coding vs constriction",
        "",
        f"- Machine: {machine()}",
        f"- Date: {datetime.date.today().isoformat()}; Python {platform.python_version()}, "
        f"numba {numba.__version__}, numpy {np.__version__}, "
        f"constriction {importlib.metadata.version('constriction')}",
        f"- Command: `python scripts/bench_coder.py --symbols {args.symbols} "
        f"--repeats {args.repeats}` ({elapsed:.0f} s)",
        f"- Stream: {args.symbols:,} i.i.d. symbols per row, the same stream for every coder "
        "of a row group. *ideal* = -Σ log2 p(s) under the true (float) distribution.",
        "- Throughput: best of the repeats, M symbols/s, model construction excluded "
        "(listed separately; numba compiled beforehand).",
        "",
        "| alphabet | distribution | coder | bytes | bits/symbol | ideal bits/symbol "
        "| overhead | encode M/s | decode M/s | model build ms |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.alphabet} | {r.distribution} | {r.coder} | {r.bytes:,} "
            f"| {8 * r.bytes / r.n:.4f} | {r.ideal_bits / r.n:.4f} | {r.overhead_pct:+.3f} % "
            f"| {r.n / r.encode_s / 1e6:.1f} | {r.n / r.decode_s / 1e6:.1f} "
            f"| {1e3 * r.build_s:.1f} |")
    ours = [r for r in rows if r.coder.startswith("rec")]
    slowest_enc = min(ours, key=lambda r: r.n / r.encode_s)
    slowest_dec = min(ours, key=lambda r: r.n / r.decode_s)
    lines += [
        "",
        f"Slowest rec rows: encode {slowest_enc.n / slowest_enc.encode_s / 1e6:.1f} M/s "
        f"({slowest_enc.coder}, {slowest_enc.alphabet} symbols, {slowest_enc.distribution}), "
        f"decode {slowest_dec.n / slowest_dec.decode_s / 1e6:.1f} M/s "
        f"({slowest_dec.coder}, {slowest_dec.alphabet} symbols, {slowest_dec.distribution}).",
        "",
        "## Notes",
        "",
        "- **Why numba.** The coder is a sequential loop with a data-dependent tree walk "
        "per symbol: numpy cannot vectorize it and a Python loop costs ~1 µs per step. "
        "`@njit(cache=True)` kernels loop over a whole symbol array per "
        "`encode`/`decode` call, on flat numpy arrays (the AVL tree is six arrays), with "
        "int64 arithmetic only (the 56-bit window avoids numba's uint64/int64 promotion "
        "to float). numba is already a dependency, installs as a wheel, needs no "
        "compiler on the user's machine, and compiles all coder kernels in ~5 s once; "
        "the result is cached on disk (`cache=True`). Only tiny helpers are IR-inlined: "
        "inlining the tree walks doubled the compile time for no measurable gain.",
        "- **Static models** encode from a cumulative table (O(1)) and decode by walking "
        "the AVL tree (O(log n), thesis 3.5.2). For large alphabets with spread-out "
        "probabilities the walk is bound by cache misses (one random path through a "
        "2^17-node tree per symbol), where constriction's compiled Rust model is about "
        "3x faster. Building a 2^17-symbol model (quantization + AVL insertion of "
        "every symbol) takes tens of ms.",
        "- **Adaptive models** walk the tree on both sides and update the counts "
        "(increment 32, halving above clip(16 n, 2^16, 2^24)). Their overhead over the "
        "ideal is the cost of learning the distribution from nothing, which grows with "
        "the alphabet size relative to the number of symbols coded; constriction has no "
        "adaptive model to compare with.",
        "- **Sizes**: rec's static model is within 0.01 % of the ideal (24-bit "
        "frequencies, < 1e-7 bits/symbol of range truncation, 1-7 bytes of termination); "
        "constriction writes whole 32-bit words.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--alphabets", type=int, nargs="+", default=[16, 4096, 2**17])
    ap.add_argument("--out", type=Path, default=Path("results/coder.md"))
    args = ap.parse_args(argv)
    if constriction is None:
        print("constriction is not installed", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    # compile the numba kernels outside the timings
    for kind in ("static", "adaptive"):
        bench_rec(kind, np.ones(4) / 4, np.arange(16) % 4, 1)
    rng = np.random.default_rng(2019)
    rows: list[Row] = []
    for n in args.alphabets:
        for dname, p in distributions(n, rng).items():
            symbols = rng.choice(n, size=args.symbols, p=p)
            ideal = float(-np.log2(p[symbols]).sum())
            for kind in ("static", "adaptive"):
                nbytes, enc_s, dec_s, build_s = bench_rec(kind, p, symbols, args.repeats)
                rows.append(Row(n, dname, f"rec {kind}", nbytes, ideal, enc_s, dec_s,
                                build_s, args.symbols))
                print(rows[-1], flush=True)
            nbytes, enc_s, dec_s, build_s = bench_constriction(p, symbols, args.repeats)
            rows.append(Row(n, dname, "constriction", nbytes, ideal, enc_s, dec_s, build_s,
                            args.symbols))
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows, args, time.perf_counter() - t0))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
