"""scripts/train_device.py on the CPU: a few steps, weights handed back as shards that load bit-exactly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rec.errors import RecError
from rec.models.pln import PLN
from rec.training.checkpoint import load_weights_into
from rec.training.checkpoint import load_checkpoint
from rec.training.shards import read_shards, write_shards

ROOT = Path(__file__).resolve().parents[2]


def test_device_script_trains_on_the_cpu_and_hands_back_shards(image_dir, tmp_path):
    shards = tmp_path / "weights"
    cmd = [sys.executable, str(ROOT / "scripts" / "train_device.py"), str(ROOT / "configs" / "gamma-pln-vr.toml"),
           "--out", str(tmp_path / "run"), "--data", str(image_dir), "--device", "cpu", "--minutes", "0.05",
           "--shards", str(shards), "--set", "train.init=", "--set", "train.crop=64", "--set", "train.batch=2",
           "--set", "train.checkpoint_every=2", "--set", "model.N=8", "--set", "model.M=6", "--set", "model.F=8", "--set", "model.G=4"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "steps in" in done.stdout
    files = sorted(shards.glob("shard-*.safetensors"))
    assert files and all(f.stat().st_size <= 16 << 20 for f in files)
    # the shards are the checkpoint's shipped weights (the EMA) in fp16, bit for bit
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["step"] >= 1 and "raw" in ckpt
    state = read_shards(shards)
    assert state.keys() == ckpt["model"].keys()
    for k, v in ckpt["model"].items():
        assert torch.equal(state[k], v.half().to(v.dtype)), k
    model = PLN(ckpt["config"].model)
    assert load_weights_into(model, str(shards)) == []


def test_shards_are_bounded_and_hash_checked(tmp_path):
    torch.manual_seed(0)
    state = {f"t{i}": torch.randn(300, 1000) for i in range(5)}  # 600 kB each in fp16
    paths = write_shards(state, tmp_path, max_bytes=1 << 20, dtype="bfloat16")
    assert len(paths) == 5 and all(p.stat().st_size <= 1 << 20 for p in paths)
    back = read_shards(tmp_path)
    assert all(torch.equal(back[k], v.bfloat16().float()) and back[k].dtype == torch.float32 for k, v in state.items())
    assert set(load_file(str(paths[0]))) == {"t0"}
    with pytest.raises(RecError, match="does not fit"):
        write_shards({"big": torch.zeros(1 << 20)}, tmp_path / "x", max_bytes=1 << 20)
    paths[1].write_bytes(paths[1].read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(RecError, match="hash"):
        read_shards(tmp_path)
    (tmp_path / "index.json").write_text("{")
    with pytest.raises(RecError, match="shard index"):
        read_shards(tmp_path)


def test_paced_runs_end_annealed_and_the_paced_one_never_leads(image_dir, tmp_path):
    """Two runs side by side over the same minutes (--wall-schedule): both end near lr_final·lr,
    and the run paced by the other (--pace-with) ends with no more steps than it."""
    tiny = ["--set", "train.init=", "--set", "train.crop=64", "--set", "train.batch=2", "--set", "train.steps=100000",
            "--set", "train.checkpoint_every=1000", "--set", "train.lr_warmup=2", "--set", "model.N=8",
            "--set", "model.M=6", "--set", "model.F=8", "--set", "model.G=4"]

    def start(name: str, *extra: str) -> subprocess.Popen:
        cmd = [sys.executable, str(ROOT / "scripts" / "train_device.py"), str(ROOT / "configs" / "gamma-pln-vr.toml"),
               "--out", str(tmp_path / name), "--data", str(image_dir), "--device", "cpu", "--minutes", "0.15",
               "--wall-schedule", "--shards", str(tmp_path / f"{name}-weights"), *tiny, *extra]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)

    lead = start("lead", "--step-file", str(tmp_path / "lead.step"), "--set", "model.N=32")  # the slower model
    paced = start("paced", "--pace-with", str(tmp_path / "lead.step"))
    for p in (lead, paced):
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    logs = {n: [json.loads(line) for line in (tmp_path / n / "log.jsonl").read_text().splitlines()] for n in ("lead", "paced")}
    assert (tmp_path / "lead.step").read_text() == f"{logs['lead'][-1]['step']} final"
    assert logs["paced"][-1]["step"] <= logs["lead"][-1]["step"]
    for records in logs.values():
        peak = max(r["lr"] for r in records)
        assert len(records) > 3 and records[-1]["lr"] < 0.15 * peak
