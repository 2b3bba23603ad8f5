import numpy as np
import pytest
from PIL import Image

from rec.fuzzing import smooth_image  # noqa: F401 - test modules import it from here


@pytest.fixture(autouse=True, scope="session")
def _no_user_zoo(tmp_path_factory):
    """Tests see the shipped zoo only: the user zoo is an empty temporary folder, whatever the machine has."""
    mp = pytest.MonkeyPatch()
    mp.setenv("REC_ZOO", str(tmp_path_factory.mktemp("user-zoo")))
    yield
    mp.undo()


@pytest.fixture
def image_dir(tmp_path):
    """Six generated 80×96 PNGs."""
    rng = np.random.default_rng(0)
    d = tmp_path / "images"
    d.mkdir()
    for i in range(6):
        Image.fromarray(smooth_image(rng, 80, 96)).save(d / f"img{i}.png")
    return d


@pytest.fixture
def empty_zoo(tmp_path, monkeypatch):
    """A temporary, empty model zoo in place of the package's (rec.models.zoo.zoo_dir), and no model pack."""
    import rec.models.zoo as zoo

    d = tmp_path / "zoo"
    d.mkdir()
    monkeypatch.setattr(zoo, "zoo_dir", lambda: d)
    monkeypatch.setattr(zoo, "pack_dir", lambda: None)
    zoo.load_model.cache_clear()
    yield d
    zoo.load_model.cache_clear()
