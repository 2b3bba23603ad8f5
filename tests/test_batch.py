import sys

import numpy as np
import pytest
from PIL import Image

from rec.batch import encode_directory, estimated_memory_gb
from tests.conftest import smooth_image
from tests.helpers import FAST, tiny_model


def test_parallel_batch_is_byte_identical_to_sequential(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(20, 30), (50, 40), (33, 65), (64, 64)]):
        Image.fromarray(smooth_image(rng, h, w)).save(src / f"im{i}.png")
    (src / "broken.png").write_bytes(b"not a png")
    model = tiny_model()
    seq = encode_directory(src, tmp_path / "seq", model=model, samplers=FAST, seed=3, jobs=1)
    par = encode_directory(src, tmp_path / "par", model=model, samplers=FAST, seed=3, jobs=2, max_memory_gb=1.3)
    assert [i.error is None for i in seq] == [False, True, True, True, True]
    assert "not an image" in seq[0].error
    for a, b in zip(seq, par):
        assert (a.bytes, a.error) == (b.bytes, b.error)
        if a.error is None:
            assert (tmp_path / "seq" / a.output.split("/")[-1]).read_bytes() == (tmp_path / "par" / b.output.split("/")[-1]).read_bytes()
    assert not (tmp_path / "seq" / "broken.rec").exists()


def test_memory_estimate_grows_with_pixels():
    assert estimated_memory_gb(4000, 3000) > 3 * estimated_memory_gb(768, 512)


def test_directory_mode_verifies_every_file_before_writing_it(tmp_path, monkeypatch):
    import rec.codec
    from rec.errors import FormatError

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        Image.fromarray(smooth_image(rng, 24, 32)).save(src / f"im{i}.png")
    model = tiny_model()
    decoded = []

    def undecodable(data, model=None):  # a decoder that refuses what the encoder wrote
        decoded.append(len(data))
        raise FormatError("undecodable payload")

    monkeypatch.setattr(rec.codec, "decompress", undecodable)
    items = encode_directory(src, tmp_path / "out", model=model, samplers=FAST, jobs=1)
    assert len(decoded) == 2  # every file was decoded...
    assert all("does not decode" in i.error and "undecodable payload" in i.error for i in items)
    assert list((tmp_path / "out").iterdir()) == []  # ...and none that fails is written
    unchecked = encode_directory(src, tmp_path / "unchecked", model=model, samplers=FAST, jobs=1, verify=False)
    assert len(decoded) == 2 and all(i.error is None and not i.verified for i in unchecked)
    assert sorted(p.name for p in (tmp_path / "unchecked").iterdir()) == ["im0.rec", "im1.rec"]


def _descendants(pid: int) -> set[int]:
    """Live (non-zombie) processes below ``pid``, from /proc."""
    import os

    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:

    alive = set()
    for p in pids:
        try:
            if open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
                alive.add(p)
        except OSError:
            pass
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGKILL"])
def test_a_signal_to_the_parent_leaves_no_worker_writing(tmp_path, signame):
    """`rec encode DIR OUT -j 2` killed while its workers code: they die with it and write nothing after."""
    import os
    import signal
    import subprocess
    import time

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i in range(4):
        Image.fromarray(smooth_image(rng, 320, 320)).save(src / f"im{i}.png")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    log = (tmp_path / "stderr.txt").open("w")  # a file, not a pipe: an orphaned worker would hold a pipe open
    proc = subprocess.Popen([sys.executable, "-m", "rec.cli", "encode", str(src), str(out), "-j", "2"],
                            stdout=subprocess.DEVNULL, stderr=log, env=env)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while len(workers := _descendants(proc.pid)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr.txt").read_text()
            time.sleep(0.05)
        time.sleep(0.5)  # the workers are coding their first images (seconds each)
        assert proc.poll() is None and not any(out.glob("*.rec"))
        proc.send_signal(getattr(signal, signame))
        proc.wait(timeout=30)
        deadline = time.monotonic() + 3
        while _alive(workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(workers), f"workers {sorted(_alive(workers))} outlived the parent"
    finally:
        for p in _alive(workers | {proc.pid}):
            os.kill(p, signal.SIGKILL)
        log.close()
    stderr = (tmp_path / "stderr.txt").read_text()
    listing = sorted(p.name for p in out.iterdir())
    time.sleep(1)
    assert sorted(p.name for p in out.iterdir()) == listing  # nothing written after the parent died
    if signame == "SIGTERM":
        assert proc.returncode == 2
        assert "rec: error: interrupted by SIGTERM" in stderr and "Traceback" not in stderr
        assert not [n for n in listing if n.endswith(".part")]


def _die(*args):
    import os

    os._exit(9)  # as a worker killed by the kernel's OOM killer


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers see the test's patch")
def test_a_worker_that_dies_is_a_clear_error(tmp_path, monkeypatch):
    import rec.batch
    from rec.errors import RecError

    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(np.random.default_rng(i), 16, 16)).save(src / f"im{i}.png")
    monkeypatch.setattr(rec.batch, "_encode_one", _die)
    with pytest.raises(RecError, match="a worker process died"):
        encode_directory(src, tmp_path / "out", model=tiny_model(), samplers=FAST, jobs=2)
