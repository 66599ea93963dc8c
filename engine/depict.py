"""Molecule drawings as SVG text: RDKit 2D depictions with atoms coloured by a weight (attention,
ablation Δ), and labelled placeholders for drugs without a structure.

Qt-free: the GUI renders the text with QSvgRenderer, reports embed it in HTML. The colour maps are
exported (`weight_color`, `SEQUENTIAL`, `DIVERGING`) so legends use exactly the drawing's colours.
"""
from __future__ import annotations

from html import escape
from typing import Mapping, Sequence

Color = tuple[float, float, float]

def _rgb(hex_color: str) -> Color:
    return tuple(int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


#: non-negative weights (attention): pale yellow → orange → deep red (ColorBrewer YlOrRd)
SEQUENTIAL: tuple[Color, ...] = tuple(map(_rgb, ("#FFEDA0", "#FEB24C", "#F03B20", "#BD0026")))
#: signed weights (ablation Δ): blue (lowers) → white → red (raises) (ColorBrewer RdBu, reversed)
DIVERGING: tuple[Color, ...] = tuple(map(_rgb, ("#2166AC", "#92C5DE", "#F7F7F7", "#F4A582", "#B2182B")))

PLACEHOLDER_TEXT = {
    "placebo": ("Placebo", "no active molecule"),
    "biologic": ("Biologic", "no small-molecule structure"),
    "unresolved": ("Unresolved", "no structure found — paste a SMILES"),
    "unknown": ("No structure", "not looked up yet"),
    "invalid": ("Invalid structure", "RDKit cannot read this SMILES"),
}


class DepictionError(ValueError):
    """A SMILES RDKit cannot read; the message quotes it."""


def _interpolate(stops: Sequence[Color], t: float) -> Color:
    t = min(max(t, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    a, b = stops[i], stops[i + 1]
    return tuple(a[k] + (b[k] - a[k]) * f for k in range(3))  # type: ignore[return-value]


def weight_color(value: float, vmin: float = 0.0, vmax: float = 1.0, diverging: bool = False) -> Color:
    """RGB in 0..1 for `value`. Diverging maps are centred on 0 (symmetric around it)."""
    if diverging:
        bound = max(abs(vmin), abs(vmax)) or 1.0
        return _interpolate(DIVERGING, 0.5 + 0.5 * value / bound)
    span = (vmax - vmin) or 1.0
    return _interpolate(SEQUENTIAL, (value - vmin) / span)


#: how strongly halos are coloured (blended with white) so atom labels and bonds stay legible;
#: no alpha channel: RDKit writes #RRGGBBAA, which Qt's SVG renderer reads as #AARRGGBB
HIGHLIGHT_STRENGTH = 0.7


def highlight_color(value: float, vmin: float = 0.0, vmax: float = 1.0, diverging: bool = False,
                    strength: float = HIGHLIGHT_STRENGTH) -> Color:
    """The halo colour drawn for `value`: `weight_color` blended towards white (use it for legends)."""
    rgb = weight_color(value, vmin, vmax, diverging)
    return tuple(1.0 - (1.0 - c) * strength for c in rgb)  # type: ignore[return-value]


def _parse(smiles: str):
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise DepictionError(f"not a valid SMILES: {smiles!r}")
    return mol


def molecule_svg(smiles: str, atom_weights: Mapping[int, float] | Sequence[float] | None = None,
                 size: tuple[int, int] = (300, 220), legend: str = "", diverging: bool | None = None,
                 vrange: tuple[float, float] | None = None) -> str:
    """SVG of `smiles`; atoms with a weight get a halo of its colour (bonds between two weighted
    atoms take their mean). `atom_weights` is by RDKit atom index of `Chem.MolFromSmiles(smiles)`
    (the order molecule segments use). `diverging` defaults to "any weight is negative";
    `vrange` fixes the colour scale (e.g. to share it across drugs). Raises DepictionError."""
    from rdkit.Chem import rdDepictor
    from rdkit.Chem.Draw import rdMolDraw2D

    mol = _parse(smiles)
    rdDepictor.SetPreferCoordGen(True)
    rdDepictor.Compute2DCoords(mol)

    weights: dict[int, float] = {}
    if atom_weights is not None:
        pairs = atom_weights.items() if isinstance(atom_weights, Mapping) else enumerate(atom_weights)
        weights = {int(i): float(w) for i, w in pairs if 0 <= int(i) < mol.GetNumAtoms()}
    if diverging is None:
        diverging = any(w < 0 for w in weights.values())
    if vrange is None:
        values = list(weights.values()) or [0.0, 1.0]
        vrange = (min(0.0, min(values)), max(values) if max(values) > 0 else 1.0)
    vmin, vmax = vrange

    atom_colors = {i: highlight_color(w, vmin, vmax, diverging) for i, w in weights.items()}
    bond_colors = {}
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if a in weights and b in weights:
            bond_colors[bond.GetIdx()] = highlight_color((weights[a] + weights[b]) / 2, vmin, vmax, diverging)

    width, height = size
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    options = drawer.drawOptions()
    options.clearBackground = False  # transparent: the card behind it sets the background
    options.padding = 0.08
    options.bondLineWidth = 1.6
    options.minFontSize = 9
    options.legendFontSize = 13
    options.fixedBondLength = 28  # small molecules do not blow up to cartoon size
    options.highlightRadius = 0.38
    options.fillHighlights = True
    options.continuousHighlight = True
    rdMolDraw2D.PrepareAndDrawMolecule(
        drawer, mol, legend=legend,
        highlightAtoms=list(atom_colors), highlightAtomColors=atom_colors,
        highlightBonds=list(bond_colors), highlightBondColors=bond_colors)
    drawer.FinishDrawing()
    # RDKit declares iso-8859-1 but hands back str; we (and Qt) encode it as UTF-8
    return drawer.GetDrawingText().replace("encoding='iso-8859-1'", "encoding='utf-8'", 1)


def placeholder_svg(kind: str, name: str = "", size: tuple[int, int] = (300, 220)) -> str:
    """A labelled card for a drug the model sees as a learned token (placebo, biologic, unresolved)."""
    title, detail = PLACEHOLDER_TEXT.get(kind, PLACEHOLDER_TEXT["unknown"])
    width, height = size
    accent = {"placebo": "#7a869a", "biologic": "#2f7d6d", "unresolved": "#b5542d",
              "invalid": "#b5542d"}.get(kind, "#7a869a")
    cx, cy = width / 2, height / 2
    detail_lines = _wrap(detail, max(12, int(width / 7)))
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<rect x="6" y="6" width="{width - 12}" height="{height - 12}" rx="10" ry="10" fill="none" '
        f'stroke="{accent}" stroke-width="1.5" stroke-dasharray="6,4"/>',
        f'<text x="{cx}" y="{cy - 10}" text-anchor="middle" font-family="sans-serif" font-size="17" '
        f'font-weight="bold" fill="{accent}">{escape(title)}</text>',
    ]
    for k, line in enumerate(detail_lines):
        lines.append(f'<text x="{cx}" y="{cy + 12 + 15 * k}" text-anchor="middle" font-family="sans-serif" '
                     f'font-size="12" fill="#555555">{escape(line)}</text>')
    if name:
        lines.append(f'<text x="{cx}" y="{height - 18}" text-anchor="middle" font-family="sans-serif" '
                     f'font-size="13" fill="#222222">{escape(name)}</text>')
    lines.append("</svg>")
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap (SVG text does not wrap by itself)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def drug_svg(drug, atom_weights=None, size: tuple[int, int] = (300, 220), **kwargs) -> str:
    """The drawing for an `engine.records.Drug`: its molecule, or the placeholder for its kind.
    Never raises: an unreadable SMILES gives the "invalid" placeholder."""
    if drug.smiles:
        try:
            return molecule_svg(drug.smiles, atom_weights, size=size, **kwargs)
        except DepictionError:
            return placeholder_svg("invalid", drug.name, size)
    return placeholder_svg(drug.kind if drug.kind in PLACEHOLDER_TEXT else "unknown", drug.name, size)


def atom_weights_from_segments(segments, weights: Sequence[float], drug_index: int) -> dict[int, float]:
    """Per-atom weights of one drug from per-token weights (`Prediction.molecule_tokens` and the
    matching attention array): each atom gets the weight of the segment that holds it (summed if
    segments overlap)."""
    out: dict[int, float] = {}
    for segment, weight in zip(segments, weights):
        if segment is None or segment.drug_index != drug_index:
            continue
        for atom in segment.atom_indices:
            out[atom] = out.get(atom, 0.0) + float(weight)
    return out


__all__ = ["molecule_svg", "placeholder_svg", "drug_svg", "atom_weights_from_segments", "weight_color",
           "highlight_color",
           "SEQUENTIAL", "DIVERGING", "DepictionError"]
