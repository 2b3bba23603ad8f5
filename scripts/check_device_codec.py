"""REC's networks on another device against the CPU: encode and decode the bundled photo both ways.

    python scripts/check_device_codec.py [--device cuda] [--model NAME] [--rate R] [--out FILE]

For each (encode device, decode device) pair: the bytes, the PSNR of the decoded image, the
seconds, and whether the file decodes on the other device to within float noise (the REC decoder
derives no discrete decision from the networks' floats, so a file coded on one device must decode
on the other: the PSNRs of the two decodes differ by float noise only). Run by
scripts/device_session.sh on a GPU lease; on a machine without CUDA it refuses with the codec's
error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    from rec.codec import compress, decompress
    from rec.evaluation.metrics import psnr
    from rec.evaluation.provenance import provenance
    from rec.image import read_image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", default=None, help="zoo model (default: the zoo's default)")
    ap.add_argument("--rate", type=float, default=None)
    ap.add_argument("--out", default=None, help="also write the table here (Markdown)")
    args = ap.parse_args(argv)
    rgb = read_image(ROOT / "rec" / "data" / "kodim23.png")
    lines = ["# REC on two devices", "", provenance(__file__, argv), "",
             "| encoded on | decoded on | bytes | PSNR (dB) | encode s | decode s |", "|---|---|---|---|---|---|"]
    files = {}
    for enc in ("cpu", args.device):
        compress(rgb, model=args.model, rate=args.rate, verify=False, device=enc)  # warm-up (kernels, caches)
        t = time.perf_counter()
        files[enc] = compress(rgb, model=args.model, rate=args.rate, verify=False, device=enc)
        encode_s = time.perf_counter() - t
        for dec in ("cpu", args.device):
            t = time.perf_counter()
            decoded = decompress(bytes(files[enc]), device=dec)
            lines.append(f"| {enc} | {dec} | {len(files[enc])} | {psnr(rgb, decoded):.3f} | {encode_s:.2f} | "
                         f"{time.perf_counter() - t:.2f} |")
    same = bytes(files["cpu"]) == bytes(files[args.device])
    lines += ["", f"The two encoders wrote {'the same' if same else 'different'} bytes (their networks' floats differ "
              "in the last bits, which may move an importance-sampling pick)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
