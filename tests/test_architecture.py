"""Layering and privacy contracts that hold for the whole code base."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    """pyproject.toml's contracts: the engine imports no desktop, PySide6 or pyqtgraph, and keeps its layers."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_every_engine_module_loads_no_qt():
    code = ("import importlib, pkgutil, sys, engine\n"
            "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'desktop')]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def import_graph():
    """Every import of the project as grimp reads it (the graph import-linter checks), lazy ones included."""
    import grimp

    return grimp.build_graph("engine", "desktop", cache_dir=None)


def test_no_import_circle_between_modules(import_graph):
    """A circle, even through imports inside functions, means two modules each own half of a concept."""
    circles = set()
    for importer in sorted(import_graph.modules):
        for imported in import_graph.find_modules_directly_imported_by(importer):
            back = import_graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                circles.add(" -> ".join((importer, *back)))
    assert not circles, "import circles:\n" + "\n".join(sorted(circles))


#: modules run by name (console scripts, `python -m`, installer scripts), which nothing imports
ENTRY_POINTS = {"engine.cli", "desktop.app", "engine.lookups.build_icd_embeddings", "engine.lookups.report",
                "engine.records.top_agreement"}


def test_every_module_is_used(import_graph):
    """A module nothing imports and nobody runs is dead code that still has to be read and kept working."""
    packages = {m for m in import_graph.modules if import_graph.find_children(m)}
    orphans = {m for m in import_graph.modules - packages - ENTRY_POINTS
               if not import_graph.find_modules_that_directly_import(m)}
    assert not orphans, sorted(orphans)


def test_the_engine_never_reaches_the_desktop(import_graph):
    chain = import_graph.find_shortest_chain(importer="engine", imported="desktop", as_packages=True)
    assert chain is None, " -> ".join(chain)


def test_the_network_guard_is_active():
    with pytest.raises(AssertionError, match="network connection"):
        socket.create_connection(("127.0.0.1", 9), timeout=0.5)
