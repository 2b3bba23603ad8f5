"""Regenerate results/reference.md and results/reference_rd.png: the mbt2018 reference codec on Kodak.

    python scripts/reference_report.py [--kodak ../shared/data/kodak] [--limit N] [--models NAME ...]
                                       [--from-results results/rec/mbt2018.json]
                                       [--seeds 3] [--noise 1e-5] [--continuous]
                                       [--out results/reference.md] [--plot results/reference_rd.png]
    python scripts/reference_report.py --oracle-only     # where tensorflow-compression imports

One rate point per mbt2018 model of the zoo (or ``--models``):

* **RD** (bpp from the file bytes, PSNR, MS-SSIM, median encode / decode seconds):
  :func:`rec.evaluation.runner.evaluate_mbt2018` codes Kodak here, or, with
  ``--from-results``, the output of ``rec eval KODAK --codec mbt2018 --out DIR`` is read
  (``DIR/mbt2018.json`` and its ``mbt2018.per_image.csv``) instead of coding Kodak twice.
* **Bits of y and z** and **fragility** (decodes with h_s(ẑ) perturbed by ``--noise``
  relative Gaussian noise, ``--seeds`` per image): :mod:`rec.evaluation.reference_study`,
  one more encode per image and one decode per seed. Its encodes write the same header as
  the runner's, so their sizes must equal the RD measurement's (the report says if not).
  ``--continuous`` repeats the fragility study coding with the continuous σ (no scale table).
* **Oracle**: :mod:`rec.evaluation.oracle` (GDN and entropy models against
  tensorflow-compression) when tensorflow-compression imports; otherwise the Oracle
  section of the existing report is kept as it was recorded, and says so.
  ``--oracle-only`` reruns just that section into the existing report.

With no mbt2018 model in the zoo the script says so and exits with status 1, writing nothing.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from rec.errors import RecError  # noqa: E402
from rec.evaluation.bdrate import bd_rate  # noqa: E402
from rec.evaluation.provenance import provenance  # noqa: E402
from rec.evaluation.reference_study import PointStudy, fragility_trial, study_point, wavefront_steps  # noqa: E402
from rec.evaluation.results import load_anchor, load_curve  # noqa: E402
from rec.evaluation.runner import (CodecResult, EvalImage, ImageResult, RatePoint, evaluate_mbt2018,  # noqa: E402
                                   load_images, load_mbt2018, zoo_models)

ORACLE_HEADING = "## Oracle: tensorflow-compression"
_KEPT_MARK = "_Not rerun by the last report"


# -- inputs ---------------------------------------------------------------------------------


def _float(text: str) -> float | None:
    return float(text) if text.strip() else None


def points_from_results(json_path: Path, images: Sequence[EvalImage],
                        names: Sequence[str]) -> tuple[list[RatePoint], dict]:
    """The runner's rate points of ``names`` on ``images``, rebuilt from ``rec eval`` output; and its meta.

    Raises:
        RecError: unreadable files, or a model / image the files do not have.
    """
    curve = load_curve(json_path)
    csv_path = json_path.with_name(f"{json_path.stem}.per_image.csv")
    if not csv_path.is_file():
        raise RecError(f"{csv_path} is missing: --from-results needs rec eval's JSON and its per-image CSV")
    with csv_path.open(newline="") as f:
        rows = {(r["model"], r["image"]): r for r in csv.DictReader(f)}
    points = []
    for name in names:
        results = []
        for im in images:
            r = rows.get((name, im.name))
            if r is None:
                raise RecError(f"{csv_path} has no row for model {name!r} and image {im.name}: "
                               "re-run rec eval with these models and images, or drop --from-results")
            results.append(ImageResult(im.name, name, im.width, im.height, int(r["bytes"]), float(r["bpp"]),
                                       float(r["psnr"]), _float(r["ms_ssim"]), _float(r["ms_ssim_db"]),
                                       float(r["encoding_time"]), float(r["decoding_time"])))
        points.append(RatePoint(name, tuple(results)))
    return points, dict(curve.meta or {})


def zoo_entries(names: Sequence[str]) -> dict:
    from rec.models.zoo import get_entry

    return {n: get_entry(n) for n in names}


# -- the markdown -----------------------------------------------------------------------------


def _f(value, fmt: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, fmt)


def _median(point: RatePoint, attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in point.images))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def oracle_section(previous: str | None) -> str:
    """The Oracle section: run now if tensorflow-compression imports, else the previous one, marked as kept."""
    from rec.evaluation.oracle import run_oracle, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        if previous and "Recorded on" in previous:  # figures measured before: keep them, say so
            body = "\n".join(line for line in previous.splitlines()[1:] if not line.startswith(_KEPT_MARK)).strip()
            return (f"{ORACLE_HEADING}\n\n{_KEPT_MARK} ({datetime.date.today().isoformat()}): {reason}. "
                    f"The figures below are as recorded on the date they give._\n\n{body}\n")
        return (f"{ORACLE_HEADING}\n\nNot run: {reason}. Run `python scripts/reference_report.py --oracle-only` "
                "in an environment with tensorflow-compression (see tests/test_reference_oracle.py).\n")
    report = run_oracle()
    lines = [ORACLE_HEADING, "",
             f"Recorded on {report.date} with {report.versions} (rec.evaluation.oracle, run by "
             "scripts/reference_report.py; the same checks are tests/test_reference_oracle.py). "
             "Our layers and densities, given the same parameters as tensorflow-compression's, "
             "on the same inputs, float32 unless said otherwise:", ""]
    rows = [[c.name, f"`{c.ours}`", f"`{c.theirs}`", f"{c.values:,}", f"{c.max_rel_diff:.2e}", f"{c.max_abs_diff:.2e}",
             f"{c.tolerance:g}", "pass" if c.passed else "**FAIL**"] for c in report.checks]
    lines += _table(["check", "ours", "tensorflow-compression", "values", "max rel. diff", "max abs. diff",
                     "tolerance", ""], rows)
    lines += ["", "Conventions matched by hand: tfc's GDN defaults to α = 1, ε = 1 (simplified GDN), ours is "
              "α = 2, ε = ½; tfc's γ is indexed [input, output] (ours is its transpose; tfc's layer runs NHWC, ours "
              "NCHW); tfc's NoisyNormal has neither the scale bound 0.11 nor the likelihood bound 1e-9, applied "
              "on its side here. The float64 row measures float32 rounding: for σ near 300, "
              "p = Φ(a) − Φ(b) cancels in float32, ours and tfc's alike.", "",
              "Environment: a separate venv, since TensorFlow 2.14 needs numpy < 2 (`python -m venv /work/tfc-venv; "
              "pip install torch==2.13.0 -e '.[test,oracle]'`); torch is not replaced in the main one."]
    return "\n".join(lines) + "\n"


def previous_oracle(path: Path) -> str | None:
    """The Oracle section of an existing report (heading to the next ``## `` heading), or None."""
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    start = text.find(ORACLE_HEADING)
    if start < 0:
        return None
    end = text.find("\n## ", start + len(ORACLE_HEADING))
    return text[start:] if end < 0 else text[start : end + 1]


def render(*, provenance: str, kodak: Path, images: Sequence[EvalImage], names: Sequence[str], entries: dict,
           lambdas: dict, points: dict, studies: dict, continuous: dict, rd_source: str, anchor,
           png_link: str | None, seeds: Sequence[int], noise: float, oracle: str, load: float,
           threshold: tuple[str, str, dict[float, bool]]) -> str:
    """The whole report (markdown)."""
    sizes = sorted({f"{im.width}×{im.height}" for im in images})
    steps = sorted({wavefront_steps(im.height, im.width) for im in images})
    order = sorted(names, key=lambda n: points[n].bpp)
    out = ["# The mbt2018 reference codec on Kodak", "",
           f"{provenance.rstrip('.')}; load average at the start: {load:.2f}.", "",
           f"Data: {kodak} ({len(images)} images: {images[0].name} … {images[-1].name}; {', '.join(sizes)}).", "",
           f"Rate-distortion figures: {rd_source}.", "",
           "Codec: `rec.reference` (Minnen, Ballé, Toderici 2018, joint autoregressive and hierarchical prior; "
           "rec.models.joint.JointPrior), range coder of constriction, 64-entry scale table, rec's container.", "",
           "## Models", ""]
    rows = []
    for n in order:
        e = entries[n]
        c = e.config
        rows.append([f"`{n}`", f"{lambdas[n]:g}", str(c.N), str(c.M), str(c.F), str(c.G), f"{e.steps:,}",
                     f"{e.wall_hours:.2f}", f"`{e.parent}`" if e.parent else "", f"`{e.sha256[:12]}`", e.description])
    out += _table(["model", "λ", "N", "M", "F", "G", "steps", "wall h", "fine-tuned from", "sha256", "description"], rows)
    out += ["", "Widths: g_a, g_s have N channels, y has M, h_a and h_s have F and z has G: the PLN's level-1 and "
            "level-2 widths (rec.models.joint), so that the two families are compared with equal transforms."]

    out += ["", "## Rate-distortion and the bits of y and z", ""]
    rows = []
    for n in order:
        p, s = points[n], studies[n]
        ms = p.ms_ssim
        rows.append([f"`{n}`", f"{lambdas[n]:g}", f"{p.bpp:.4f}", f"{s.bpp_y:.4f}", f"{s.bpp_z:.4f}",
                     f"{s.bpp_overhead:.4f}", f"{100 * s.coded_over_estimated:+.2f} %", str(s.escapes),
                     f"{p.psnr:.2f}", _f(ms, ".4f"), _f(p.ms_ssim_db, ".2f"),
                     f"{_median(p, 'encoding_time'):.2f}", f"{_median(p, 'decoding_time'):.2f}"])
    out += _table(["model", "λ", "bpp", "y bpp", "z bpp", "header bpp", "coded vs model", "escapes", "PSNR dB",
                   "MS-SSIM", "MS-SSIM dB", "encode s", "decode s"], rows)
    wave = ", ".join(f"{w} ({r} in raster order)" for w, r in steps)
    out += ["",
            "Means over the images of per-image values (CompressAI's convention). **bpp** is 8 × file bytes / "
            "pixels. **y**, **z**: the sections of each level in the file (the range coder's payload plus the "
            "level's side info, i.e. its escaped values), **header**: the rest (header with model id and hash, "
            "section framing, CRC). **coded vs model**: bits of y and z against the model's own estimate "
            "−Σ log₂ p(ŷ) − Σ log₂ p(ẑ): the cost of the scale table and the coder; negative where many values "
            "lie far in the tails of their Gaussians, which σ rounded *up* to the table makes cheaper. "
            "**escapes**: values beyond "
            "the coder's support, over all images.", "",
            "**encode s**, **decode s**: median wall seconds per image in one process "
            "(`rec.reference.compress` / `decompress`, as `rec eval` times them; indicative only on a shared "
            "machine, see the load average above). The decoder runs the context model autoregressively as a **wavefront** "
            "(`rec.models.context2d.wavefront_schedule`): all positions on an anti-diagonal t = 3i + j of the "
            "latent are decoded together, one batched evaluation of the context model and the entropy-parameter "
            f"network per step, so these images need {wave} steps. The encoder runs the same pass (y is rounded "
            "around the predicted mean, which depends on the positions before)."]
    if png_link is not None:
        out += ["", f"![RD: ours and the published mbt2018]({png_link})", ""]
        ours_bpp = [points[n].bpp for n in order]
        ours_psnr = [points[n].psnr for n in order]
        try:
            bd = f"{bd_rate(anchor.bpp, anchor.psnr, ours_bpp, ours_psnr):+.1f} %"
        except RecError as e:
            bd = f"not computable ({e})"
        out += [f"Published curve: `{anchor.name}` ({anchor.description}), Minnen et al. 2018 as CompressAI "
                f"lists it (rec/evaluation/anchors/kodak/paper-mbt2018.json). BD-rate (PSNR, pchip) of ours against it: "
                f"{bd}. Ours are trained far shorter (steps above) than the paper's models."]
    # bytes of the study's encodes against the RD measurement
    same = sum(s.bytes == r.bytes for n in names for s, r in zip(studies[n].images, points[n].images))
    total = sum(len(points[n].images) for n in names)
    out += ["", f"The encodes of the split and fragility study wrote the same number of bytes as the RD "
            f"measurement for {same} of {total} (model, image) pairs."
            + ("" if same == total else " **They differ for the others** (stale --from-results, measured on another CPU class, "
               "or a thread-count dependent analysis transform: g_a is float): the split is of this run's files.")]

    out += ["", "## Fragility: decoding with a perturbed hyper-synthesis", "",
            f"Every image is decoded {len(seeds)} times (seeds {', '.join(map(str, seeds))}) with "
            f"ψ = h_s(ẑ) replaced by ψ · (1 + {noise:g} · ε), ε ~ N(0, 1): `rec.reference.fragility_trial`, a "
            "stand-in for the last-bit differences of h_s between an encoder's and a decoder's machine "
            "(CompressAI issues 279, 309, 340). A decode is **wrong** if any integer latent of y differs, the "
            "pixels differ by more than one level, or decoding raised. How wrong: the fraction of y's integer "
            "latents that differ, and the PSNR lost against the correct decode (over the wrong decodes that "
            "returned an image).", "",
            "Since 2026-12-02 the codec computes h_s, the context model and g_ep in fixed point "
            "(rec.models.fixed_point, exact sums in any order) and its coding tables with +−×÷ only "
            "(rec.portable), so ψ is the same on every machine (tests/test_reference_portability.py): what "
            "this trial perturbs cannot differ between machines, and it measures what the float pipeline "
            "that design replaced would risk. A ψ off by more than the fixed-point grid breaks the exact "
            f"path for good (on a 256² crop of {threshold[1]}, `{threshold[0]}` under relative noise "
            + ", ".join(f"{level:g}: {'decodes' if ok else 'fails'}" for level, ok in threshold[2].items())
            + "), so nearly every trial fails now, against 53-68 % with the float pipeline "
            "(results of 2026-11-22; bisected to the commit that made the reference portable).", ""]
    frag_rows = []
    for label, table in (("64-entry scale table (the codec)", studies), ("continuous σ (no table)", continuous)):
        for n in order:
            if n not in table:
                continue
            f = table[n].fragility()
            frag_rows.append([f"`{n}`", label, str(f.trials), f"{f.wrong} ({100 * f.wrong_rate:.0f} %)", str(f.raised),
                              f"{f.images_wrong} / {len(table[n].images)}",
                              f"{_f(f.symbol_fraction_median, '.2%')} / {_f(f.symbol_fraction_max, '.2%')}",
                              f"{_f(f.psnr_drop_median, '.2f')} / {_f(f.psnr_drop_max, '.2f')}",
                              _f(f.max_latent_error_ok, '.1e')])
    out += _table(["model", "coding of σ", "decodes", "wrong", "raised", "images with a wrong decode",
                   "latents differing (median / max)", "PSNR drop dB (median / max)", "max abs Δŷ when right"],
                  frag_rows)
    wrong = [(n, s.image, t) for n in order for s in studies[n].images for t in s.trials if not t.ok]
    if wrong:
        out += ["", f"Wrong decodes with the scale table ({len(wrong)}; the first 20):", ""]
        out += _table(["model", "image", "seed", "latents differing", "PSNR drop dB", "error"],
                      [[f"`{n}`", img, str(t.seed), _f(t.symbol_fraction, ".2%"), _f(t.psnr_drop, ".2f"),
                        t.error or ""] for n, img, t in wrong[:20]])
    if not continuous:
        out += ["", "(`--continuous` adds the same study with the continuous σ, where any change of σ moves "
                "the coder's CDF.)"]
    out += ["", oracle.rstrip(), ""]
    return "\n".join(out)


# -- main ------------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _write_oracle_only(out: Path) -> None:
    from rec.evaluation.oracle import unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        raise RecError(f"--oracle-only: {reason}")
    section = oracle_section(None)
    if out.is_file():
        text = out.read_text(encoding="utf-8")
        old = previous_oracle(out)
        text = text.replace(old, section) if old else text.rstrip() + "\n\n" + section
    else:
        text = ("# The mbt2018 reference codec on Kodak\n\n"
                f"The Kodak figures (rate split, fragility, RD beside the published curve) are not measured yet "
                f"({datetime.date.today().isoformat()}: the zoo has no mbt2018 model); `python "
                "scripts/reference_report.py` writes them, keeping this section.\n\n" + section)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images (by name)")
    ap.add_argument("--models", nargs="+", default=None, help="zoo names (default: every mbt2018 model of the zoo)")
    ap.add_argument("--from-results", type=Path, default=None,
                    help="rec eval's mbt2018.json (with its .per_image.csv beside it) instead of coding Kodak here")
    ap.add_argument("--seeds", type=int, default=3, help="perturbed decodes per image (default 3)")
    ap.add_argument("--noise", type=float, default=1e-5, help="relative noise on h_s(ẑ) (default 1e-5)")
    ap.add_argument("--continuous", action="store_true", help="also study the coding with the continuous σ")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "reference.md")
    ap.add_argument("--plot", type=Path, default=ROOT / "results" / "reference_rd.png")
    ap.add_argument("--anchor", default="paper-mbt2018", help="published curve plotted beside ours")
    ap.add_argument("--anchor-dir", type=Path, default=None)
    ap.add_argument("--oracle-only", action="store_true", help="only rerun the Oracle section of --out")
    args = ap.parse_args(argv)
    try:
        if args.oracle_only:
            _write_oracle_only(args.out)
            print(f"wrote the Oracle section of {args.out}")
            return 0
        if args.seeds < 1:
            raise RecError("--seeds must be at least 1")
        if not args.noise >= 0:
            raise RecError("--noise must be ≥ 0")
        available = zoo_models("mbt2018")
        names = list(dict.fromkeys(args.models)) if args.models else available
        if not names:
            print("no mbt2018 model installed (they are in the model pack: pip install ./zoo; "
                  "scripts/train_zoo.py trains them): nothing to report", file=sys.stderr)
            return 1
        unknown = [n for n in names if n not in available]
        if unknown:
            raise RecError(f"not mbt2018 models of the zoo: {', '.join(unknown)}; "
                           f"mbt2018 models: {', '.join(available) or 'none'}")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        anchor = load_anchor(args.anchor, args.anchor_dir)
        images = load_images(args.kodak, args.limit)
        entries = zoo_entries(names)
        seeds = tuple(range(args.seeds))

        if args.from_results is not None:
            rd, meta = points_from_results(args.from_results, images, names)
            rd_source = (f"read from `{args.from_results}` and its per-image CSV (`rec eval --codec mbt2018`, "
                         f"measured {meta.get('date', '?')} on {meta.get('machine', '?')})")
        else:
            _log(f"coding {len(images)} images with {len(names)} model(s) (rec.evaluation.runner.evaluate_mbt2018)")
            result = evaluate_mbt2018(images, names, log=_log)
            rd = result.points
            rd_source = ("measured by this run with `rec.evaluation.runner.evaluate_mbt2018` "
                         "(what `rec eval --codec mbt2018` runs)")
        points = {p.setting: p for p in rd}

        studies: dict[str, PointStudy] = {}
        continuous: dict[str, PointStudy] = {}
        lambdas = {}
        from rec.codec import model_hash

        for n in names:
            net = load_mbt2018(n)
            lambdas[n] = float(net.config.lmbda)
            digest = model_hash(net)
            runs = [(64, studies)] + ([(0, continuous)] if args.continuous else [])
            for levels, table in runs:
                started = time.perf_counter()
                table[n] = study_point(net, n, images, model_hash=digest, seeds=seeds, rel_noise=args.noise,
                                       scale_levels=levels)
                f = table[n].fragility()
                _log(f"{n} (scale levels {levels}): {table[n].bpp_y:.4f} + {table[n].bpp_z:.4f} bpp; "
                     f"{f.wrong}/{f.trials} wrong decodes ({time.perf_counter() - started:.0f} s)")

        # where the exact path starts to break: the first model on a 256² crop of the first image
        crop = images[0].rgb[:256, :256]
        threshold = (names[0], images[0].name,
                     {level: fragility_trial(load_mbt2018(names[0]), crop, level, 0).symbols_equal for level in (1e-9, 1e-7)})

        from rec.evaluation.rd_plot import plot_rd  # needs matplotlib: not for --oracle-only

        curve = CodecResult("mbt2018", "mbt2018 (ours, rec.reference)", "", "model",
                            points=sorted(points.values(), key=lambda p: p.bpp)).curve()
        xmax = max(1.0, 1.15 * max(curve.bpp))
        plot_rd([curve], [anchor], args.plot, xmax, f"Kodak ({len(images)} images): mbt2018, ours and published")
        text = render(provenance=provenance(__file__, argv), kodak=args.kodak, images=images, names=names, entries=entries, lambdas=lambdas,
                      points=points, studies=studies, continuous=continuous, rd_source=rd_source, anchor=anchor,
                      png_link=Path(os.path.relpath(args.plot, args.out.parent)).as_posix(), seeds=seeds,
                      noise=args.noise, oracle=oracle_section(previous_oracle(args.out)), load=load,
                      threshold=threshold)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    except RecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
