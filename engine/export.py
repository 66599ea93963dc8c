"""Reports of scored trials: a CSV (one row per trial) and a self-contained HTML page (molecules drawn
inline as SVG, top criteria by attention and by ablation, probability against the phase's base rate,
unresolved items, the model and the date). `cladmop export` and the GUI's Tools → Export write them.

The HTML needs nothing beside it (no scripts, no external files), so it can be mailed or archived.
"""
from __future__ import annotations

import csv
import io
import time
from html import escape
from pathlib import Path
from typing import Callable, Iterable, Sequence

from engine.atomic import atomic_text_writer, atomic_write_text
from engine.prediction import Prediction
from engine.records.trial import Trial
from engine.scoring import ScoredTrial
from engine.tasks import TaskState

CSV_COLUMNS = ("nct_id", "title", "record_phase", "model_phase", "probability", "base_rate", "vs_base_rate",
               "what_if_probability", "what_if_change", "scenarios", "top_criteria_by_attention", "top_items_by_ablation",
               "interval", "novelty", "similar_success_rate", "similar_trials", "unresolved", "warnings", "error", "model", "scored_at", "source_path")
LIST_SEPARATOR = " | "
ATTENTION_NOTE = "Attention: where the model looked (fine level); it is not attribution."
ABLATION_NOTE = ("Ablation (exact leave-one-out): the change in probability when the item is left out; "
                 "negative means the item raises the prediction.")


def now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z")


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def top_attention(prediction: Prediction, k: int = 5) -> list[tuple[str, float]]:
    """(criterion text, fine-level weight) of the most attended criteria."""
    if not any(a.level == "fine" for a in prediction.attention):
        return []
    labels = prediction.criteria_labels
    return [(labels[i] if i < len(labels) else f"criterion {i + 1}", w)
            for i, w in prediction.top_criteria_by_attention(k)]


def top_ablation(prediction: Prediction, k: int = 5) -> list[tuple[str, str, float]]:
    """(kind, label, Δ probability) of the items whose removal moves the probability most."""
    return [(a.kind, a.label, a.delta) for a in prediction.top_by_ablation(k)]


def evidence_cells(p: Prediction) -> dict[str, str]:
    """The novelty and similar-trial columns of one prediction ("" when its model has no learning index)."""
    return {"interval": p.interval_text, "novelty": p.novelty.summary if p.novelty is not None else "",
            "similar_success_rate": _fmt(p.neighbour_success_rate, 2),
            "similar_trials": LIST_SEPARATOR.join(f"{s.nct_id} {s.outcome} ({s.similarity:.2f})" for s in p.similar)}


def csv_rows(scored: Sequence[ScoredTrial], top: int = 3, scored_at: str | None = None) -> list[dict]:
    scored_at = scored_at or now_text()
    rows = []
    for s in scored:
        p, t = s.prediction, s.trial
        row = {c: "" for c in CSV_COLUMNS}
        row.update(nct_id=t.nct_id, title=t.title, record_phase=t.phase_label, source_path=t.source_path,
                   error=s.error, scored_at=scored_at)
        if p is not None:
            row.update(model_phase=p.phase, probability=_fmt(p.probability), base_rate=_fmt(p.base_rate),
                       vs_base_rate=_fmt(p.probability - p.base_rate), model=p.model_name,
                       top_criteria_by_attention=LIST_SEPARATOR.join(
                           f"{w:.3f} {' '.join(text.split())}" for text, w in top_attention(p, top)),
                       top_items_by_ablation=LIST_SEPARATOR.join(
                           f"{d:+.3f} {kind}: {' '.join(label.split())}" for kind, label, d in top_ablation(p, top)),
                       **evidence_cells(p), unresolved=LIST_SEPARATOR.join(p.unresolved),
                       warnings=LIST_SEPARATOR.join(([p.notice] if getattr(p, "notice", "") else []) + p.warnings))
        else:
            row.update(unresolved=LIST_SEPARATOR.join(t.unresolved), warnings=LIST_SEPARATOR.join(t.warnings))
        if s.what_if_prediction is not None:
            row.update(what_if_probability=_fmt(s.what_if_prediction.probability),
                       what_if_change=_fmt(s.what_if_change))
        elif s.what_if is not None and s.what_if_error:
            row["error"] = "; ".join(x for x in (row["error"], f"what-if: {s.what_if_error}") if x)
        row["scenarios"] = LIST_SEPARATOR.join(scenario_cells(s))
        rows.append(row)
    return rows


def csv_text(scored: Sequence[ScoredTrial], top: int = 3, scored_at: str | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(scored, top, scored_at))
    return buffer.getvalue()


def write_csv_rows(rows: Iterable[dict], path: Path | str) -> int:
    """Write rows of `CSV_COLUMNS` as they come (never held whole) into a file that appears complete at
    `path` only at the end (atomic); the one CSV writer of the streamed and the resumed exports.
    Returns the number of rows."""
    count = 0
    with atomic_text_writer(Path(path)) as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_csv_stream(scored: Iterable[ScoredTrial], path: Path | str, top: int = 3, scored_at: str | None = None,
                     on_row: Callable[[ScoredTrial], None] | None = None) -> int:
    """Write one row per trial as each arrives (the batch is never held whole); the file appears
    complete at `path` only at the end (atomic). Returns the number of rows."""
    scored_at = scored_at or now_text()

    def rows():
        for item in scored:
            yield csv_rows([item], top, scored_at)[0]
            if on_row is not None:
                on_row(item)

    return write_csv_rows(rows(), path)


def write_csv(scored: Sequence[ScoredTrial], path: Path | str, top: int = 3, scored_at: str | None = None) -> Path:
    path = Path(path)
    atomic_write_text(path, csv_text(scored, top, scored_at))
    return path


# -- HTML ---------------------------------------------------------------------------------------------
def drug_atom_weights(prediction: Prediction, trial: Trial | None, level: str = "fine") -> dict[int, dict[int, float]]:
    """Per-drug atom weights from one level's attention to the molecule segments; empty when the
    prediction's molecule tokens do not belong to `trial`'s drugs (a stale or foreign trial)."""
    from engine.depict import atom_weights_from_segments

    att = next((a for a in prediction.attention if a.level == level), None)
    if trial is None or att is None or len(att.molecules) != len(prediction.molecule_tokens):
        return {}
    drugs, labels = trial.drugs, prediction.molecule_labels
    for i, segment in enumerate(prediction.molecule_tokens):
        if segment is None:
            continue
        if segment.drug_index >= len(drugs) or i >= len(labels) or \
                not labels[i].startswith(drugs[segment.drug_index].name + ":"):
            return {}
    out = {}
    for index in range(len(drugs)):
        atoms = atom_weights_from_segments(prediction.molecule_tokens, att.molecules, index)
        if atoms:
            out[index] = atoms
    return out


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def _strip_xml_header(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _probability_bar(p: float, base: float, what_if: float | None = None) -> str:
    """An inline SVG bar: the probability filled, the base rate as a tick, the what-if as a dot."""
    width = 240
    x = lambda v: round(4 + v * (width - 8), 1)  # noqa: E731
    parts = [f"<svg class='bar' width='{width}' height='22' viewBox='0 0 {width} 22' role='img' "
             f"aria-label='probability {p:.2f}, base rate {base:.2f}'>",
             f"<rect x='4' y='7' width='{width - 8}' height='8' rx='4' fill='#e6e8eb'/>",
             f"<rect x='4' y='7' width='{x(p) - 4}' height='8' rx='4' fill='#2f6fb0'/>",
             f"<line x1='{x(base)}' x2='{x(base)}' y1='2' y2='20' stroke='#222' stroke-width='2'/>"]
    if what_if is not None:
        parts.append(f"<circle cx='{x(what_if)}' cy='11' r='5' fill='#e08a00' stroke='white'/>")
    parts.append("</svg>")
    return "".join(parts)


def _molecules_html(scored: ScoredTrial, size=(220, 160)) -> str:
    from engine.depict import drug_svg

    trial = scored.resolved or scored.trial
    if not trial.drugs:
        return "<p class='muted'>No drug interventions.</p>"
    weights = drug_atom_weights(scored.prediction, trial) if scored.prediction else {}
    top = max((w for atoms in weights.values() for w in atoms.values()), default=0.0)
    cards = []
    for index, drug in enumerate(trial.drugs):
        atoms = weights.get(index)
        svg = drug_svg(drug, atoms, size=size, vrange=(0.0, top) if atoms and top > 0 else None)
        cards.append(f"<figure class='mol'>{_strip_xml_header(svg)}<figcaption>{escape(drug.name)}"
                     f"<br><span class='muted'>{escape(drug.kind.replace('_', ' '))}</span></figcaption></figure>")
    return "<div class='mols'>" + "".join(cards) + "</div>"


def _attention_table(p: Prediction, k: int) -> str:
    from engine.depict import highlight_color

    items = top_attention(p, k)
    if not items:
        return "<p class='muted'>No criteria attention in this prediction.</p>"
    top = max(w for _, w in items) or 1.0
    rows = "".join(f"<tr><td class='num' style='background:{_hex(highlight_color(w, 0.0, top))}'>{w:.3f}</td>"
                   f"<td>{escape(' '.join(text.split()))}</td></tr>" for text, w in items)
    return f"<table class='items'>{rows}</table>"


def _ablation_table(p: Prediction, k: int) -> str:
    from engine.depict import highlight_color

    items = top_ablation(p, k)
    if not items:
        return "<p class='muted'>No ablation in this prediction (scored without it).</p>"
    bound = max(abs(d) for _, _, d in items) or 1.0
    rows = "".join(f"<tr><td class='num' style='background:{_hex(highlight_color(d, -bound, bound, True))}'>"
                   f"{d:+.3f}</td><td class='kind'>{escape(kind)}</td><td>{escape(' '.join(label.split()))}</td></tr>"
                   for kind, label, d in items)
    return f"<table class='items'>{rows}</table>"


def _what_if_changes(original: Trial, what_if: Trial | None) -> str:
    """The criteria the what-if left out and the ones it reads instead, so a reader of the report
    knows what the what-if probability is the answer to."""
    import difflib

    if what_if is None:
        return ""
    before = [(c.kind, c.text) for c in original.active_criteria]
    after = [(c.kind, c.text) for c in what_if.active_criteria]
    items = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            items += [f"<li class='removed'>− {escape(kind)}: {escape(text)}</li>" for kind, text in before[i1:i2]]
        if op in ("insert", "replace"):
            items += [f"<li class='added'>+ {escape(kind)}: {escape(text)}</li>" for kind, text in after[j1:j2]]
    if not items:
        return "<p class='muted'>Same criteria in another order.</p>"
    return f"<ul class='changes'>{''.join(items)}</ul>"


def scenario_cells(s: ScoredTrial) -> list[str]:
    """"name: 0.712 (+0.030 vs as recorded)" per saved scenario (or why it was not scored)."""
    base = s.prediction.probability if s.prediction is not None else None
    cells = []
    for name, prediction, error in s.scenarios:
        if prediction is None:
            cells.append(f"{name}: not scored ({error})")
        else:
            vs = f" ({prediction.probability - base:+.3f} vs as recorded)" if base is not None else ""
            cells.append(f"{name}: {prediction.probability:.3f}{vs}")
    return cells


def _trial_section(s: ScoredTrial, anchor: str, k: int) -> str:
    t, p = s.trial, s.prediction
    head = (f"<h2 id='{anchor}'><span class='id'>{escape(t.nct_id)}</span> {escape(t.title or 'untitled')}</h2>"
            f"<p class='muted'>Record phase {escape(t.phase_label)}"
            + (f" · {escape(t.sponsor)}" if t.sponsor else "")
            + (f" · {escape(Path(t.source_path).name)}" if t.source_path else "") + "</p>")
    if p is None:
        unresolved = "".join(f"<li>{escape(u)}</li>" for u in t.unresolved)
        return (f"<section class='trial'>{head}<p class='error'>Not scored: {escape(s.error)}</p>"
                + (f"<h3>Unresolved</h3><ul>{unresolved}</ul>" if unresolved else "") + "</section>")
    what_if = s.what_if_prediction.probability if s.what_if_prediction else None
    vs = p.probability - p.base_rate
    interval = f" ({escape(p.interval_text)})" if p.interval else ""
    lines = [f"<p class='prob'><b>{p.probability:.2f}</b>{interval} probability of success "
             f"<span class='muted'>(phase {escape(p.phase)} model; base rate {p.base_rate:.2f}, "
             f"{vs:+.2f} vs base)</span></p>", _probability_bar(p.probability, p.base_rate, what_if)]
    if what_if is not None:
        lines.append(f"<p>What-if (the analyst's edited criteria): <b>{what_if:.2f}</b> "
                     f"({s.what_if_change:+.3f} vs as recorded)</p>" + _what_if_changes(t, s.what_if))
    elif s.what_if is not None and s.what_if_error:
        lines.append(f"<p class='error'>What-if not scored: {escape(s.what_if_error)}</p>")
    if s.scenarios:
        lines.append("<h3>Saved scenarios</h3><ul>" + "".join(f"<li>{escape(c)}</li>" for c in scenario_cells(s))
                     + "</ul>")
    unresolved = "".join(f"<li>{escape(u)}</li>" for u in p.unresolved) or "<li class='muted'>none</li>"
    notice = getattr(p, "notice", "")  # the model read only part of the record
    warnings = "".join(f"<li>{escape(w)}</li>" for w in ([notice] if notice else []) + list(p.warnings))
    return (f"<section class='trial'>{head}{''.join(lines)}{_molecules_html(s)}"
            f"<div class='cols'><div><h3>Top criteria by attention</h3><p class='note'>{escape(ATTENTION_NOTE)}</p>"
            f"{_attention_table(p, k)}</div><div><h3>Top items by ablation</h3>"
            f"<p class='note'>{escape(ABLATION_NOTE)}</p>{_ablation_table(p, k)}</div></div>"
            f"{_evidence_html(p)}<h3>Unresolved drugs and conditions</h3><ul>{unresolved}</ul>"
            + (f"<h3>Notes</h3><ul>{warnings}</ul>" if warnings else "") + "</section>")


def _evidence_html(p: Prediction) -> str:
    """Novelty and the similar past trials, with their success rate beside the model's number."""
    parts = []
    if p.novelty is not None:
        cls = "error" if p.novelty.unusual else "muted"
        parts.append(f"<p class='{cls}'><b>Novelty:</b> {escape(p.novelty.summary)}</p>")
    if p.similar:
        rows = "".join(f"<tr><td class='id'>{escape(s.nct_id)}</td><td>{s.outcome}</td><td>{escape(s.phases)}</td>"
                       f"<td>{s.completion_year or '?'}</td><td class='num'>{s.similarity:.2f}</td>"
                       f"<td>{escape(s.shares)}</td></tr>" for s in p.similar)
        parts.append(f"<h3>Similar past trials ({p.neighbour_success_rate:.0%} succeeded)</h3>"
                     f"<table class='items'>{rows}</table>")
    return "".join(parts)


STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#1d2329}
h1{font-size:22px;margin-bottom:2px} h2{font-size:17px;margin:0 0 2px} h3{font-size:14px;margin:12px 0 4px}
.muted{color:#6b7280} .note{color:#6b7280;font-size:12px;margin:0 0 4px} .error{color:#b3261e}
.changes{list-style:none;padding-left:8px;margin:2px 0 8px} .removed{color:#b3261e;text-decoration:line-through} .added{color:#1e7b34}
.id{font-family:monospace;background:#eef1f4;padding:1px 5px;border-radius:4px}
section.trial{border:1px solid #d9dce1;border-radius:8px;padding:14px 18px;margin:16px 0;page-break-inside:avoid}
.prob{font-size:15px;margin:8px 0 2px} .prob b{font-size:22px}
.mols{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
figure.mol{margin:0;border:1px solid #e3e6ea;border-radius:6px;padding:4px;text-align:center;font-size:12px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:18px}
table.items{border-collapse:collapse;font-size:13px} table.items td{padding:2px 6px;vertical-align:top}
td.num{font-family:monospace;text-align:right;white-space:nowrap} td.kind{color:#6b7280}
table.summary{border-collapse:collapse;font-size:13px;width:100%}
table.summary th,table.summary td{border-bottom:1px solid #e3e6ea;padding:4px 6px;text-align:left}
footer{color:#6b7280;font-size:12px;margin-top:24px}
"""


def html_report(scored: Sequence[ScoredTrial], model_name: str = "", created: str | None = None, top: int = 5,
                title: str = "CLaDMoP Studio report") -> str:
    """The whole report as one HTML string (trials in the given order; a summary table first when there are
    several)."""
    created = created or now_text()
    model_name = model_name or next((s.prediction.model_name for s in scored if s.prediction), "")
    anchors = [f"t{i}" for i in range(len(scored))]
    summary = []
    for s, anchor in zip(scored, anchors):
        p = s.prediction
        cells = (f"{p.probability:.2f}", f"{p.base_rate:.2f}", escape(p.phase)) if p else ("–", "–", "–")
        what_if = f"{s.what_if_prediction.probability:.2f} ({s.what_if_change:+.3f})" if s.what_if_prediction else ""
        summary.append(f"<tr><td><a href='#{anchor}'>{escape(s.trial.nct_id)}</a></td>"
                       f"<td>{escape((s.trial.title or '')[:90])}</td><td>{cells[2]}</td><td>{cells[0]}</td>"
                       f"<td>{cells[1]}</td><td>{what_if}</td><td class='error'>{escape(s.error)}</td></tr>")
    n_ok = sum(s.ok for s in scored)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f"<p class='muted'>{n_ok} of {len(scored)} trials scored · model: {escape(model_name or 'none')} · "
            f"{escape(created)}</p>"
            + (_summary_table(summary) if len(scored) > 1 else "")  # one trial: its section says it all
            + "".join(_trial_section(s, a, top) for s, a in zip(scored, anchors))
            + "<footer><p>Probabilities come from the CLaDMoP model (Zhang, Liu &amp; Murai, KDD 2025) as "
            "calibrated on its training data; the base rate is the share of successful trials in that phase's "
            "training data. The bar shows the probability (blue), the base rate (black tick) and the what-if "
            "(orange dot).</p><p>" + escape(ATTENTION_NOTE) + " " + escape(ABLATION_NOTE) + "</p>"
            "<p>Trial records: ClinicalTrials.gov (U.S. National Library of Medicine); records may have been "
            "modified since they were retrieved or be out of date.</p>"
            f"<p>Written by CLaDMoP Studio on {escape(created)}.</p></footer></body></html>")


def _summary_table(rows: list[str]) -> str:
    return ("<table class='summary'><tr><th>Trial</th><th>Title</th><th>Phase model</th><th>Probability</th>"
            f"<th>Base rate</th><th>What-if</th><th>Problem</th></tr>{''.join(rows)}</table>")


def write_html(scored: Sequence[ScoredTrial], path: Path | str, model_name: str = "", created: str | None = None,
               top: int = 5, title: str = "CLaDMoP Studio report") -> Path:
    path = Path(path)
    atomic_write_text(path, html_report(scored, model_name, created, top, title))
    return path


def write_report(scored: Sequence[ScoredTrial], html_path: Path, csv_path: Path, model_name: str = "",
                 state: TaskState | None = None) -> tuple[Path, Path]:
    """The CSV and the HTML report of `scored` (the window's Tools → Export), with progress."""
    state = state or TaskState()
    state.progress(0, 2, "writing the CSV")
    write_csv(scored, csv_path)
    state.progress(1, 2, f"drawing {len(scored)} trial(s) into the HTML report")
    write_html(scored, html_path, model_name=model_name)
    state.progress(2, 2, "report written")
    return Path(html_path), Path(csv_path)
