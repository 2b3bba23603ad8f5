"""Regenerate results/ddp_stress.md: the two-process (DDP) training test, many runs in a row
while another process keeps a core busy (issue 17: no flaky rendezvous, no hang).

    python scripts/stress_ddp.py [--runs 30]

Each run is ``pytest tests/training/test_training.py::test_two_process_gradient_equals_single_process``
in a fresh interpreter (its own port, its own processes), under pytest's per-test timeout;
a busy loop runs in a separate process for the whole time. Run it from a checkout nobody edits
meanwhile (each run imports the package afresh); a failure's pytest error lines go to the report.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

from rec.evaluation.provenance import provenance

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/training/test_training.py::test_two_process_gradient_equals_single_process"


def busy(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "results" / "ddp_stress.md"))
    args = ap.parse_args(argv)
    stop = mp.Event()
    hog = mp.Process(target=busy, args=(stop,), daemon=True)
    hog.start()
    outcomes = []
    try:
        for i in range(args.runs):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=ROOT,
                               capture_output=True, text=True)
            seconds = time.perf_counter() - t
            out = (r.stdout + r.stderr).strip().splitlines()
            why = [ln.strip() for ln in out if ln.lstrip().startswith("E ")][:3]  # pytest's error lines
            outcomes.append((r.returncode, seconds, (out[-1:] or [""]) + why))
            print(f"run {i + 1}: exit {r.returncode} in {seconds:.1f} s {outcomes[-1][2][0]}", flush=True)
    finally:
        stop.set()
        hog.join(5)
    passed = sum(code == 0 for code, _, _ in outcomes)
    times = sorted(s for _, s, _ in outcomes)
    lines = ["# The DDP test under load", "", provenance(__file__, argv),
             f"`{TEST}` run {args.runs} times in a row, each in a fresh interpreter, while a busy loop holds a core.", "",
             "| runs | passed | slowest run | median run |", "|---|---|---|---|",
             f"| {args.runs} | {passed} | {times[-1]:.1f} s | {times[len(times) // 2]:.1f} s |"]
    failed = [f"- run {i + 1}: exit {code}: {tail[0]}" + "".join(f"\n  `{ln}`" for ln in tail[1:])
              for i, (code, _, tail) in enumerate(outcomes) if code]
    lines += ([""] + failed) if failed else []
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
