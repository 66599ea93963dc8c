"""Model → Model manager with a real (tiny) model folder: what it shows comes from model.json, a bad
folder is refused naming the file, another folder and the device are switched on a worker and
remembered, a local BioGPT folder is imported through the engine's model store."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from engine.model.checkpoint import ModelManifest
from desktop.model_choice import recent_models, saved_device, saved_model
from tests.gui_helpers import make_settings

pytestmark = pytest.mark.gui
EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"


def load(folder, device="auto"):
    from engine.predict import Predictor

    return Predictor.load(folder, device="cpu" if device == "auto" else device)


@pytest.fixture
def window(make_window, tmp_path, tiny_model):
    settings = make_settings(tmp_path)
    settings.setValue("model/folder", str(tiny_model["model"]))  # as chosen in an earlier session
    settings.setValue("model/device", "cpu")
    return make_window(settings=settings, model_factory=load, wait_ready=True)


def open_manager(qtbot, window):
    manager = window.show_model_manager()
    qtbot.waitUntil(lambda: manager.summary is not None and manager.devices is not None, timeout=60000)
    return manager


def test_the_saved_model_and_device_are_loaded_at_start(window, tiny_model):
    assert Path(window.predictions.predictor.folder) == tiny_model["model"]
    assert window.predictions.device_name == "CPU"
    assert window.model_folder == str(tiny_model["model"])


def test_manager_shows_folder_backbone_granularity_and_phases_from_the_manifest(qtbot, window, tiny_model):
    manager = open_manager(qtbot, window)
    manifest = json.loads((tiny_model["model"] / "model.json").read_text())
    info = manager.info.text()
    assert str(tiny_model["model"]) in info and "all-MiniLM-L6-v2" in info and "criterion" in info
    assert "d_model 32" in info and "CPU" in info
    table = manager.phase_table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["I", "II"]
    for row, phase in enumerate(("I", "II")):
        saved = manifest["phases"][phase]
        assert table.item(row, 1).text() == f"{saved['base_rate']:.3f}"
        assert table.item(row, 5).text() == f"{saved['metrics']['validation']['roc_auc']:.3f}"
        assert table.item(row, 7).text() == f"{saved['metrics']['n_train']} / {saved['metrics']['n_valid']}"
        assert table.item(row, 8).text().endswith("KiB")  # the adapter is there
    # devices as torch sees them: CUDA is offered only where there is a GPU
    labels = [manager.device_box.itemText(i) for i in range(manager.device_box.count())]
    assert labels[1] == "CPU"
    cuda_item = manager.device_box.model().item(2)
    assert cuda_item.isEnabled() == manager.devices.cuda
    if manager.devices.cuda:
        import torch

        assert torch.cuda.get_device_name(0) in labels[2]
    else:
        assert labels[0] == "Auto — CPU (no CUDA GPU)"
    manager.close()


def test_a_damaged_or_foreign_folder_is_refused_naming_the_file(qtbot, window, tmp_path, tiny_model):
    manager = open_manager(qtbot, window)
    before = window.predictions.predictor
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_model["model"], damaged)
    with open(damaged / "adapters" / "I" / "adapter_model.safetensors", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02\x03")
    manager.request_folder(str(damaged))
    qtbot.waitUntil(lambda: manager.last_message is not None, timeout=60000)
    text = manager.last_message.text()
    assert isinstance(manager.last_message, QMessageBox)
    assert str(damaged / "adapters" / "I" / "adapter_model.safetensors") in text and "checksum" in text
    assert window.predictions.predictor is before  # nothing switched

    manager.last_message = None
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    manager.request_folder(str(empty))
    qtbot.waitUntil(lambda: manager.last_message is not None, timeout=60000)
    assert "model.json" in manager.last_message.text() and str(empty) in manager.last_message.text()
    manager.close()


def test_switching_to_another_folder_rescores_and_is_remembered(qtbot, window, tmp_path, tiny_model):
    other = tmp_path / "other-model"
    shutil.copytree(tiny_model["model"], other)
    manifest = ModelManifest.read(other)
    manifest.name = "other-model"
    manifest.write(other)
    window.open_files([EXAMPLES / "NCT09990001.xml"])
    qtbot.waitUntil(lambda: window.current_key is not None
                    and window.session.current_prediction(window.current_key, "original") is not None, timeout=120000)
    key = window.current_key
    assert "other-model" not in window.session.current_prediction(key, "original").model_name

    manager = open_manager(qtbot, window)
    manager.device_box.setCurrentIndex(manager.device_box.findData("cpu"))
    manager.request_folder(str(other))
    qtbot.waitUntil(lambda: window.predictions.model_name.startswith("other-model"), timeout=120000)
    qtbot.waitUntil(lambda: (p := window.session.current_prediction(key, "original")) is not None
                    and p.model_name.startswith("other-model"), timeout=120000)
    assert saved_model(window.settings) == str(other) and saved_device(window.settings) == "cpu"
    assert str(other.resolve()) == recent_models(window.settings)[0]
    manager.refresh_models()
    listed = [manager.model_list.item(i).text() for i in range(manager.model_list.count())]
    assert any(text.startswith(str(other.resolve())) and "(in use)" in text for text in listed)
    manager.close()


def test_a_local_biogpt_folder_is_imported_into_the_model_store(qtbot, window, tmp_path):
    pytest.importorskip("engine.model_store")
    from tiny_models import build_tiny_biogpt

    from engine.model_store import ModelStore
    from engine.records import load_records

    lines = [c.text for t in load_records([EXAMPLES]).trials for c in t.criteria]
    source = build_tiny_biogpt(tmp_path / "biogpt", lines, vocab_size=400)
    manager = open_manager(qtbot, window)
    manager.import_backbone(str(source), "biogpt-tiny")
    qtbot.waitUntil(lambda: manager.backbone_table.rowCount() == 1, timeout=120000)
    assert manager.backbone_table.item(0, 0).text() == "biogpt-tiny"
    assert manager.backbone_table.item(0, 1).text() == "biogpt"
    assert manager.backbone_table.item(0, 2).text() == "4 × 32"
    assert "biogpt-tiny" in ModelStore()
    assert "imported biogpt-tiny" in manager.backbone_note.text()

    # a folder missing its tokenizer is refused with the file's name
    broken = tmp_path / "broken"
    shutil.copytree(source, broken)
    (broken / "merges.txt").unlink()
    manager.import_backbone(str(broken), "broken")
    qtbot.waitUntil(lambda: manager.last_message is not None, timeout=60000)
    assert "merges.txt" in manager.last_message.text()
    assert "broken" not in ModelStore()
    manager.close()
