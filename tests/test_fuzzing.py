"""2 000 mutated inputs through the parser and the decoder: only FormatError may escape."""

import numpy as np
import pytest

from rec.codec import compress
from rec.fuzzing import fuzz, mutate, reseal
from rec.container import VERSIONS, Container
from rec.errors import FormatError
from tests.conftest import smooth_image
from tests.helpers import FAST, lively_mbt, tiny_model


def parsed_header(data: bytes):
    try:
        return Container.from_bytes(data).header
    except FormatError:
        return None


@pytest.mark.parametrize("version", VERSIONS)
def test_reseal_makes_a_mutant_pass_the_crc(version):
    model = tiny_model()
    data = bytes(compress(smooth_image(np.random.default_rng(0), 20, 30), model=model, samplers=FAST, verify=False))
    data = Container.from_bytes(data).to_bytes(version)
    assert reseal(data) == data
    Container.from_bytes(reseal(data[:-4] + b"\0\0\0\0"))
    longer = reseal(data[:-4] + bytes(200) + b"\0\0\0\0")  # format 2's length field grows by a byte
    try:  # past the integrity checks, into the fields
        Container.from_bytes(longer)
    except FormatError as e:
        assert not any(m in str(e) for m in ("CRC mismatch", "declares", "garbage"))


def test_two_thousand_mutants_raise_only_format_error():
    model = tiny_model()
    rng = np.random.default_rng(1)
    seeds = [bytes(compress(smooth_image(rng, h, w), model=model, samplers=s, seed=i, verify=False))
             for i, (h, w, s) in enumerate([(20, 30, FAST), (70, 65, FAST), (33, 17, "rejection(bits=6):greedy(bits=6,shards=3)")])]
    report = fuzz(seeds, 2000, model, rng_seed=7)
    assert report.inputs == 2000
    assert report.escapes == []
    assert report.format_errors > 1000
    assert report.slowest_cpu_seconds < 2.0
    assert report.peak_rss_mb < 4000
    # mutants are varied: different outputs for the same seed input
    assert len({mutate(seeds[0], np.random.default_rng(i)) for i in range(50)}) > 40


def test_mbt2018_mutants_and_huge_header_sizes_raise_only_format_error():
    """Issue 17: mbt2018 bitstreams, and headers (CRC resealed) claiming up to 65536² pixels."""
    model = lively_mbt()
    rng = np.random.default_rng(2)
    seeds = [bytes(compress(smooth_image(rng, h, w), model=model, verify=False)) for h, w in [(20, 30), (70, 65)]]
    mutants = [mutate(seeds[0], np.random.default_rng(i)) for i in range(300)]
    sizes = {(h.width, h.height) for h in map(parsed_header, mutants) if h is not None}
    assert any(max(s) >= 1 << 14 for s in sizes)  # the size edits do happen
    report = fuzz(seeds, 600, model, rng_seed=3)
    assert report.escapes == []
    assert report.format_errors > 300
    assert report.slowest_cpu_seconds < 2.0
    assert report.peak_rss_mb < 4000


def test_isokl_budget_sampler_mutants_raise_only_format_error():
    """The budget sampler's layout comes from the decoded z2: a mutated z2 or index stream must still
    end in FormatError or an image."""
    from tests.helpers import tiny_isokl_model

    model = tiny_isokl_model()
    rng = np.random.default_rng(4)
    seeds = [bytes(compress(smooth_image(rng, h, w), model=model, rate=r, verify=False))
             for h, w, r in [(20, 30, 0.2), (70, 65, 1.0)]]
    report = fuzz(seeds, 600, model, rng_seed=5)
    assert report.escapes == []
    assert report.format_errors > 300
    assert report.slowest_cpu_seconds < 2.0
