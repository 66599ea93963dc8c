"""Issue 20.5/20.7: a model folder is trusted only for files inside it. model.json entries that climb
out of the folder and symbolic links are refused; a pickle in an adapter's place is a ModelError
naming the file, not a SafetensorError traceback."""
from __future__ import annotations

import pickle
import shutil

import pytest

from engine.errors import ModelError
from engine.model.checkpoint import BASE_WEIGHTS, ModelManifest, save_state, sha256_file
from engine.model.cladmop import CLaDMoP
from engine.predict import default_model_dir
from tests.model_fixtures import small_config


@pytest.fixture
def folder(tmp_path):
    """A small verified model folder (base weights and a README)."""
    config = small_config()
    save_state(CLaDMoP(config), tmp_path / BASE_WEIGHTS)
    (tmp_path / "README.md").write_text("a model")
    ModelManifest(config=config).write(tmp_path)
    ModelManifest.read(tmp_path).verify(tmp_path)
    return tmp_path


def test_an_entry_outside_the_folder_is_refused(folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.txt"
    outside.write_text("not part of the model")
    manifest = ModelManifest.read(folder)
    for rel in ("../" * 8 + "etc/passwd", str(outside), f"../{outside.parent.name}/secret.txt"):
        target = folder / rel if not rel.startswith("/") else outside
        manifest.checksums = {**manifest.checksums, rel: sha256_file(target)}
        with pytest.raises(ModelError, match="lies outside the model folder; refused"):
            manifest.verify(folder)
        manifest.checksums.pop(rel)


def test_a_symbolic_link_in_the_folder_is_refused(folder):
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to("/etc/passwd")
    ModelManifest.read(folder).write(folder)  # the checksums updated to match, as a tamperer would
    with pytest.raises(ModelError, match="README.md: a symbolic link in a model folder; refused"):
        ModelManifest.read(folder).verify(folder)


def test_a_pickle_in_place_of_an_adapter_is_a_model_error_naming_it(tmp_path):
    from engine.predict import Predictor

    model = tmp_path / "model"
    shutil.copytree(default_model_dir(), model)
    adapter = model / "adapters" / "I" / "adapter_model.safetensors"
    adapter.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    ModelManifest.read(model).write(model)  # checksums match: only the format can tell
    with pytest.raises(ModelError, match=f"^{adapter}: unreadable weights, not a safetensors file"):
        Predictor.load(model, device="cpu")


def test_a_fine_tune_into_a_new_folder_stopped_at_once_leaves_a_model_that_verifies(folder, tmp_path_factory):
    """Issue 20.8: the copy of the base took only its weights and model.json, so a listed
    training_summary.json was missing and a killed fine-tune left a folder failing verify."""
    import numpy as np

    from engine.tasks import TaskState
    from engine.training.finetune import finetune
    from tests.model_fixtures import make_features

    (folder / "training_summary.json").write_text("{}")
    ModelManifest.read(folder).write(folder)
    out = tmp_path_factory.mktemp("out") / "model"
    y = np.array([i % 2 for i in range(8)])
    feats = [make_features(small_config(), seed=i) for i in range(8)]
    stopped = TaskState()
    stopped.cancel()
    result = finetune(folder, "I", feats[:4], y[:4], feats[4:], y[4:], out_dir=out, device="cpu", state=stopped)
    assert result.stopped == "cancelled"
    ModelManifest.read(out).verify(out)
    assert (out / "training_summary.json").read_text() == "{}"
