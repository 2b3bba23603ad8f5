import json
import math
import socket

import pytest
import torch
import torch.multiprocessing as mp

from rec.errors import RecError
from rec.training import load_config
from rec.training.loop import Trainer
from rec.training.data import PatchDataset, load_images, patches_per_image
from rec.training.loop import cosine_rate, draw_betas, fast_bf16, learning_rate, warmup_factor

TINY = ["model.N=8", "model.M=6", "model.F=8", "model.G=4"]


def tiny_config(image_dir, *extra):
    return load_config(None, TINY + [f"train.data={image_dir}", f"train.val={image_dir}", "train.crop=64", "train.batch=2",
                                     "train.bf16=false", "train.val_every=1000", *extra])


def test_schedules():
    assert learning_rate(0, 1e-3, 0.96, 1500) == 1e-3
    assert learning_rate(3000, 1e-3, 0.96, 1500) == pytest.approx(1e-3 * 0.96**2)
    assert [warmup_factor(t, 10) for t in (0, 5, 10, 20)] == [0.0, 0.5, 1.0, 1.0]
    assert patches_per_image(768, 512) == 15 * 3 * 2 and patches_per_image(200, 100) == 1


def test_cosine_cycles_warm_up_then_anneal_to_the_floor():
    lr = [cosine_rate(t, 1e-3, warmup=10, cycle=100, final=0.02) for t in range(200)]
    assert lr[0] == pytest.approx(1e-4) and lr[9] == pytest.approx(1e-3)  # linear warm-up
    assert lr[10] == pytest.approx(1e-3) and lr[99] == pytest.approx(2e-5)  # the cycle ends at 2 %
    assert all(a >= b for a, b in zip(lr[10:100], lr[11:100]))  # monotone decay within the cycle
    assert lr[100:] == lr[:100]  # each cycle the same: every chunk ends annealed


def test_betas_are_log_uniform_and_a_function_of_the_step():
    b = draw_betas(0, 5, 4000, 0.05, 5.0)
    assert torch.equal(b, draw_betas(0, 5, 4000, 0.05, 5.0)) and not torch.equal(b, draw_betas(0, 6, 4000, 0.05, 5.0))
    assert b.min() >= 0.05 and b.max() <= 5.0
    u = (torch.log(b) - math.log(0.05)) / math.log(100)  # uniform on [0, 1] if log-uniform
    assert abs(u.mean().item() - 0.5) < 0.02 and abs(u.var().item() - 1 / 12) < 0.01


def test_training_may_draw_the_rate_from_part_of_a_variable_rate_models_range(image_dir, tmp_path):
    vr = ["model.beta_min=0.03", "model.beta_max=80", "model.beta=2"]
    cfg = tiny_config(image_dir, *vr, "train.rate_min=0.15", "train.rate_max=20")
    assert cfg.sampled_rates == (0.15, 20.0)
    assert tiny_config(image_dir, *vr, "train.rate_max=20").sampled_rates == (0.03, 20.0)
    assert tiny_config(image_dir, *vr).sampled_rates == (0.03, 80.0) and tiny_config(image_dir).sampled_rates is None
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    betas = torch.cat([trainer.betas(64) for trainer.step in range(20)])
    assert betas.min() >= 0.15 and betas.max() <= 20.0
    for bad in (["train.rate_min=0.01"], ["train.rate_max=100"], ["train.rate_min=5", "train.rate_max=1"]):
        with pytest.raises(RecError, match="rate_min"):
            tiny_config(image_dir, *vr, *bad)
    with pytest.raises(RecError, match="variable-rate"):
        tiny_config(image_dir, "train.rate_max=2")


def test_bf16_only_where_it_pays():
    assert fast_bf16("cuda")
    flags = open("/proc/cpuinfo").read() if __import__("os").path.exists("/proc/cpuinfo") else ""
    assert fast_bf16("cpu") == (" amx_bf16" in flags or " avx512_bf16" in flags)


def test_augmented_batches_are_reproducible_and_differ_from_plain_crops(image_dir):
    images = load_images(image_dir)
    plain, aug = PatchDataset(images, crop=64, seed=3), PatchDataset(images, crop=64, seed=3, augment=True)
    a = aug.batch(5, 4)
    assert torch.equal(a, aug.batch(5, 4)) and a.shape == (4, 3, 64, 64)
    assert not torch.equal(a, plain.batch(5, 4))
    assert torch.equal(aug.batch(5, 4, rank=1, world=2), a[1::2])


def test_batches_are_a_function_of_step_and_split_by_rank(image_dir):
    data = PatchDataset(load_images(image_dir), crop=64, seed=3)
    a, b = data.batch(5, 4), data.batch(5, 4)
    assert torch.equal(a, b) and a.shape == (4, 3, 64, 64)
    assert not torch.equal(a, data.batch(6, 4))
    assert torch.equal(data.batch(5, 4, rank=1, world=2), a[1::2])


def test_config_overrides_and_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nkind = "pln"\nbeta = 0.5\n[train]\nsteps = 7\n')
    c = load_config(cfg, ["train.bf16=false", "model.N=32"])
    assert (c.model.kind, c.model.beta, c.model.N, c.train.steps, c.train.bf16) == ("pln", 0.5, 32, 7, False)
    with pytest.raises(RecError, match="unknown setting"):
        load_config(cfg, ["train.nonsense=1"])
    (tmp_path / "bad.toml").write_text("[optimizer]\nlr=1\n")
    with pytest.raises(RecError, match="unknown config section"):
        load_config(tmp_path / "bad.toml")


def test_loss_falls_on_a_tiny_overfit_run(image_dir, tmp_path):
    config = tiny_config(image_dir, "train.steps=80", "train.lr=2e-3", "train.warmup=0", "train.checkpoint_every=1000")
    Trainer(config, tmp_path / "run", progress=False).run()
    losses = [json.loads(line)["loss"] for line in open(tmp_path / "run" / "log.jsonl")]
    assert len(losses) == 80
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10


def test_non_finite_gradients_skip_the_update_and_stop_a_diverged_run(image_dir, tmp_path):
    trainer = Trainer(tiny_config(image_dir, "train.warmup=0"), tmp_path / "run", progress=False)
    batch = torch.rand(2, 3, 64, 64)
    trainer.train_step(batch)  # Adam has state now
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    bad = batch.clone()
    bad[0, 0, 0, 0] = float("nan")
    record = trainer.train_step(bad)
    assert record["step"] == 2 and trainer.bad_steps == 1 and not torch.isfinite(torch.tensor(record["loss"]))
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in before.items())  # weights untouched
    trainer.train_step(batch)
    assert trainer.bad_steps == 0
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values())
    with pytest.raises(RecError, match="training diverged"):
        for _ in range(20):
            trainer.train_step(bad)


def test_resume_reproduces_the_uninterrupted_run(image_dir, tmp_path):
    config = tiny_config(image_dir, "train.steps=6", "train.checkpoint_every=3")
    Trainer(config, tmp_path / "straight", progress=False).run()
    halfway = tiny_config(image_dir, "train.steps=3", "train.checkpoint_every=3")
    Trainer(halfway, tmp_path / "resumed", progress=False).run()
    with open(tmp_path / "resumed" / "log.jsonl", "a") as log:  # a step logged after the checkpoint, then killed
        log.write(json.dumps({"step": 4, "loss": 0.0}) + "\n")
    resumed = Trainer(config, tmp_path / "resumed", progress=False)
    assert resumed.step == 3
    resumed.run()
    logged = [json.loads(line)["step"] for line in open(tmp_path / "resumed" / "log.jsonl")]
    assert logged == [1, 2, 3, 4, 5, 6]
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), (k, (a[k] - b[k]).abs().max().item(), a[k].dtype)


def test_frozen_parameters_hold_for_freeze_steps_then_train(image_dir, tmp_path):
    trainer = Trainer(tiny_config(image_dir, "train.warmup=0", "train.freeze=analysis1,synthesis1",
                                  "train.freeze_steps=2"),
                      tmp_path / "run", progress=False)
    batch = torch.rand(2, 3, 64, 64)
    start = {k: v.clone() for k, v in trainer.model.named_parameters()}
    for _ in range(2):
        trainer.train_step(batch)
    held = {k for k in start if k.startswith(("analysis1", "synthesis1"))}
    assert held and all(torch.equal(start[k], p) for k, p in trainer.model.named_parameters() if k in held)
    assert all(not torch.equal(start[k], p) for k, p in trainer.model.named_parameters() if k.startswith("synthesis2"))
    params = dict(trainer.model.named_parameters())
    assert all(params[k] not in trainer.optimizer.state for k in held)  # no moments gathered while held
    trainer.train_step(batch)
    assert all(not torch.equal(start[k], p) for k, p in trainer.model.named_parameters() if k.startswith("analysis1"))
    with pytest.raises(RecError, match="freeze_steps needs train.freeze"):
        tiny_config(image_dir, "train.freeze_steps=5")


VR = ["model.posterior=residual", "model.beta=0.3", "model.beta_min=0.1", "model.beta_max=1.0", "model.gamma_inf=0.01",
      "train.schedule=cosine", "train.lr_warmup=2", "train.ema=0.9", "train.augment=true"]


def test_resume_reproduces_the_uninterrupted_run_with_the_new_recipe(image_dir, tmp_path):
    """Variable rate, cosine schedule, EMA and augmentation: resuming at step 3 equals 6 steps straight,
    the EMA (the shipped weights) included."""
    config = tiny_config(image_dir, "train.steps=6", "train.checkpoint_every=3", *VR)
    Trainer(config, tmp_path / "straight", progress=False).run()
    Trainer(tiny_config(image_dir, "train.steps=3", "train.checkpoint_every=3", *VR), tmp_path / "resumed", progress=False).run()
    Trainer(config, tmp_path / "resumed", progress=False).run()
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    for part in ("model", "raw"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    assert any(not torch.equal(a["model"][k], a["raw"][k]) for k in a["model"])  # the EMA is not the raw weights
    log = [json.loads(line) for line in open(tmp_path / "straight" / "log.jsonl")]
    assert log[0]["lr"] < log[2]["lr"]  # warm-up


def test_validation_reports_active_channels_per_rate(image_dir, tmp_path):
    config = tiny_config(image_dir, "train.steps=2", "train.val_every=2", *VR)
    Trainer(config, tmp_path / "r", progress=False).run()
    val = [json.loads(line) for line in open(tmp_path / "r" / "log.jsonl")][-1]["val"]
    assert [v["beta"] for v in val] == pytest.approx([0.1, math.sqrt(0.1), 1.0], rel=1e-4)
    assert all(1 <= v["active_channels"] <= 6 for v in val)


def test_resume_refuses_another_architecture(image_dir, tmp_path):
    Trainer(tiny_config(image_dir, "train.steps=1", "train.checkpoint_every=1"), tmp_path / "r", progress=False).run()
    with pytest.raises(RecError, match="another model config"):
        Trainer(tiny_config(image_dir, "model.N=12"), tmp_path / "r", progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_rank(rank, world, port, config, batch, out):
    import os
    import sys

    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.manual_seed(0)
    trainer = Trainer(config, out / "ddp", progress=False)
    trainer.backward(batch[rank::world], sample=False)
    if rank == 0:
        torch.save({n: p.grad for n, p in trainer.model.named_parameters() if p.grad is not None}, out / "ddp_grads.pt")
    # no process may tear down the group while the other still talks to it (SIGABRT under load, issue 17)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    # and none may run C++ static destructors at exit while gloo's threads are still winding down:
    # an intermittent `terminate called without an active exception` (SIGABRT) in CI, stop 26
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_two_process_gradient_equals_single_process(image_dir, tmp_path):
    config = tiny_config(image_dir, "train.warmup=0")
    batch = PatchDataset(load_images(image_dir), crop=64).batch(0, 4)
    torch.manual_seed(0)
    single = Trainer(config, tmp_path / "single", progress=False)
    single.backward(batch, sample=False)
    mp.spawn(_ddp_rank, args=(2, _free_port(), config, batch, tmp_path), nprocs=2, join=True)
    ddp = torch.load(tmp_path / "ddp_grads.pt", weights_only=True)
    for name, p in single.model.named_parameters():
        if p.grad is not None:
            assert torch.allclose(ddp[name], p.grad, rtol=1e-4, atol=1e-6), name


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_rec_train_device_cuda_without_cuda_is_a_clear_error(image_dir, tmp_path, capsys):
    from rec.cli import main

    config = tmp_path / "tiny.toml"
    config.write_text(f'[model]\nkind = "pln"\nN = 8\nM = 6\nF = 8\nG = 4\n[train]\ndata = "{image_dir}"\nval = ""\n'
                      'crop = 64\nbatch = 2\nsteps = 1\n')
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--device", "cuda", "--quiet"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--device", "cpu", "--quiet"]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["device"] == "cpu"
