"""RDKit SVG drawings: valid SVG, highlights in the colour map's colours, clear errors, placeholders."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from engine.depict import (DIVERGING, DepictionError, atom_weights_from_segments, drug_svg,
                           highlight_color, molecule_svg, placeholder_svg, weight_color)
from engine.features.types import MoleculeSegment
from engine.records.trial import Drug
from tests.builders import drawn, svg_fills as fills

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def hex_of(rgb) -> str:
    return "#" + "".join(f"{round(c * 255):02X}" for c in rgb)


def test_plain_molecule_is_well_formed_svg_with_no_highlight():
    svg = molecule_svg(ASPIRIN, size=(240, 180), legend="aspirin")
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag.endswith("svg") and root.get("width") == "240px"
    assert "aspirin" in svg or "<path" in svg  # legend drawn (as text or glyph paths)
    assert not any(drawn(highlight_color(v), svg) for v in (0.0, 0.5, 1.0))


def test_weighted_atoms_take_the_colour_map_colours():
    weights = {0: 0.0, 1: 1.0, 2: 0.5}
    svg = molecule_svg(ASPIRIN, weights)
    used = fills(svg)
    for w in weights.values():
        assert drawn(highlight_color(w, 0.0, 1.0), svg)
    # bonds between weighted atoms take the colour of their mean weight: 0-1 → 0.5, 1-2 → 0.75
    assert drawn(highlight_color(0.75, 0.0, 1.0), svg)
    assert len(used) == 4  # nothing else is filled with colour


def test_signed_weights_use_the_diverging_map_centred_on_zero():
    svg = molecule_svg(ASPIRIN, [0.4, -0.4])
    assert weight_color(0.0, -1, 1, diverging=True) == DIVERGING[2]
    assert hex_of(weight_color(-0.4, -0.4, 0.4, diverging=True)) == hex_of(DIVERGING[0])
    assert drawn(highlight_color(-1, -1, 1, True), svg) and drawn(highlight_color(1, -1, 1, True), svg)
    # halos are tints of the map (legible labels), written without an alpha channel
    assert highlight_color(1, -1, 1, True) == tuple(1 - (1 - c) * 0.7 for c in DIVERGING[-1])
    assert not re.search(r"fill:#[0-9A-Fa-f]{8}", svg)


def test_weights_outside_the_molecule_are_ignored_and_shared_scales_apply():
    svg = molecule_svg("CCO", {0: 0.2, 99: 5.0}, vrange=(0.0, 0.4))
    assert drawn(highlight_color(0.2, 0.0, 0.4), svg) and len(fills(svg)) == 1  # atom 99 ignored


def test_non_ascii_legends_survive_the_svg_header():
    svg = molecule_svg("CCO", legend="éthanol ≥ 95 %")
    assert "encoding='utf-8'" in svg
    ET.fromstring(svg.encode("utf-8"))


def test_invalid_smiles_raises_with_the_smiles_quoted():
    with pytest.raises(DepictionError, match=r"not a valid SMILES: 'C1CC\(\('"):
        molecule_svg("C1CC((")


@pytest.mark.parametrize("kind, words", [("placebo", "Placebo"), ("biologic", "Biologic"),
                                         ("unresolved", "paste a SMILES")])
def test_placeholders_are_labelled_svg(kind, words):
    svg = placeholder_svg(kind, "Drug <X> & Co", size=(200, 150))
    root = ET.fromstring(svg)
    text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert words in text and "Drug <X> & Co" in text
    longest = max(len(t.text or "") for t in root.iter() if t.tag.endswith("text"))
    assert longest * 7 <= 200  # wrapped to the card's width (about 7 px per character)


def test_drug_svg_picks_molecule_or_placeholder_and_never_raises():
    assert "Placebo" in drug_svg(Drug("placebo", None, "placebo"))
    assert "Invalid structure" in drug_svg(Drug("junk", "C1CC((", "small_molecule"))
    assert "<path" in drug_svg(Drug("aspirin", ASPIRIN, "small_molecule"))


def test_segment_weights_map_onto_the_atoms_of_one_drug():
    segments = [MoleculeSegment(0, "CC(=O)O", (0, 1, 2, 3)), MoleculeSegment(0, "c1ccccc1", (4, 5, 6)),
                None, MoleculeSegment(1, "CCO", (0, 1, 2))]
    weights = atom_weights_from_segments(segments, [0.2, 0.5, 0.1, 0.9], drug_index=0)
    assert weights == {0: 0.2, 1: 0.2, 2: 0.2, 3: 0.2, 4: 0.5, 5: 0.5, 6: 0.5}
