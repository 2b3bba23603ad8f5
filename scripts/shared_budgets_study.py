"""Regenerate results/shared_budgets.md: shared group budgets against per-dimension budgets, equal steps.

    python scripts/shared_budgets_study.py [--runs runs] [--steps 2500] [--parts train compare]

The iso-KL model spends exactly κ_i bits in every level-1 dimension; with
``model.group_budget = T`` the dimensions of each of the budget sampler's groups (raster fill,
T sixteenths of a bit) share their summed κ, split by the encoder
(:func:`rec.models.isokl.shared_budgets`). Both arms start from the shipped gamma-pln-iso and
train the same steps of its recipe (configs/gamma-pln-iso.toml, one cosine cycle at lr 1e-4):

train    RUNS/iso-ctl: per-dimension budgets, as shipped. RUNS/iso-group: T = 160 (bits 11 less the
         default 1-bit margin: the default coder's groups), starting with share logits ℓ = 0 (the
         encoder's log σx head, unused by the iso-KL posterior, zeroed), i.e. at the shipped model.
         ~25 min each on a 2-core CPU; one after the other.
compare  scripts/compare_likelihood.py on the validation photos (never Kodak): ideal and coded
         curves of the shipped model and both arms, coded with gamma-pln-iso's schedule.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import compare_likelihood  # noqa: E402

from rec.models.zoo import load_model  # noqa: E402

GROUP_BUDGET = 160
BASE = "gamma-pln-iso"


def share_init(path: Path) -> None:
    """The shipped weights with the encoder's log σx head (the share logits) at 0: ℓ = 0 spends κ as shipped."""
    model = load_model(BASE)
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    M = model.config.M
    head = [k for k in state if k.startswith("analysis1.") and state[k].shape[:1] == (2 * M,)]
    for k in head:  # the last convolution's weight and bias: its second half gives log σx
        state[k][M:] = 0
    save_file(state, str(path))


def train(runs: Path, steps: int) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    init = runs / "isogroup-init.safetensors"
    share_init(init)
    recipe = [f"train.steps={steps}", f"train.lr_cycle={steps}", "train.lr=1e-4", "train.lr_warmup=100",
              f"train.val_every={steps}", "train.checkpoint_every=250"]
    arms = {"iso-ctl": [f"train.init={BASE}"],
            "iso-group": [f"train.init={init}", f"model.group_budget={GROUP_BUDGET}"]}
    for name, sets in arms.items():
        cmd = ["rec", "train", str(ROOT / "configs" / "gamma-pln-iso.toml"), "--out", str(runs / name), "--quiet"]
        for s in recipe + sets:
            cmd += ["--set", s]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(ROOT / "runs"))
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--parts", nargs="+", default=["train", "compare"], choices=["train", "compare"])
    args = ap.parse_args(argv)
    runs = Path(args.runs)
    if "train" in args.parts:
        train(runs, args.steps)
    if "compare" in args.parts:
        steps = f"{args.steps:,}".replace(",", " ")
        note = (f"Made by `python scripts/shared_budgets_study.py --steps {args.steps}` (its docstring): both arms "
                f"{steps} steps of configs/gamma-pln-iso.toml from the shipped weights, one cosine cycle at lr 1e-4; "
                f"the shared arm with model.group_budget = {GROUP_BUDGET} and its share logits starting at 0.")
        compare_likelihood.main([
            "--models", BASE, str(runs / "iso-ctl" / "last.pt"), str(runs / "iso-group" / "last.pt"),
            "--labels", f"{BASE} (shipped)", f"iso, {steps} more steps",
            f"iso with shared group budgets (T = {GROUP_BUDGET}), {steps} more steps",
            "--coded", "--coding-from", BASE, "--note", note,
            "--title", "Shared group budgets against per-dimension budgets, equal steps",
            "--out", str(ROOT / "results" / "shared_budgets.md")])


if __name__ == "__main__":
    main()
