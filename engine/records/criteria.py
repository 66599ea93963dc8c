"""Split eligibility text into inclusion / exclusion items, and write items back.

Two layouts occur in the wild:

- legacy ClinicalTrials.gov text (XML `<textblock>`, TOP CSV): "Inclusion Criteria:" headers, items
  as "-  text" or "1. text" bullets wrapped at ~95 columns with deeper-indented continuation lines,
  sub-bullets indented further, `&#xD;` carriage returns, PDQ sections ("DISEASE CHARACTERISTICS:",
  "Age:", "--Prior/Concurrent Therapy--") and lead-ins ("Patients will not be eligible ... if they:");
- API v2 Markdown: "* item", "1. item", nested lists by indentation, backslash escapes (`\\>`, `\\*`).

Rules, and why:

- An item is a top-level bullet or a paragraph. Sub-bullets are folded into their parent item
  ("tumor of 1 of the following subtypes: CNS germinoma; Immature teratoma"): alone, a sub-bullet
  would read as a criterion of its own and lose the "one of the following" that binds it.
- **Text before any header, or text with no header at all, is inclusion.** Records without headers
  (old PDQ text, in-house protocols) list what a patient must satisfy; "No prior chemotherapy" is
  still a condition to meet.
- Headers switch the kind: "Inclusion Criteria", "Key exclusion criteria:", "EXCLUSION CRITERIA",
  "Non-inclusion criteria", and lead-ins ending with ":" that state the kind ("Patients may be
  eligible ... if they:", "... will be excluded:"). Neutral headers ("Eligibility Criteria:",
  "Protocol Entry Criteria:") keep it. Headers are not items.
- Short label lines ("Age:", "Hematopoietic:", "--Disease Characteristics--") prefix the items
  under them ("Age: 18 and over"), since "18 and over" alone means nothing.
- **Lead-ins join the item they introduce** (`regroup=True`): an item ending with ":" ("NOTE:", "Also
  patient must be:", "... defined as:") is put in front of the next item on the same side under the
  same label. Alone it states nothing, yet explanations ranked such fragments as criteria.
- Whitespace is collapsed inside items; Markdown escapes are undone; items without a letter or digit
  are dropped.
- **Long paragraphs are split** (`regroup=True`, `split_long_item`): an item longer than
  `LONG_ITEM_CHARS` (400 characters, about the 128 tokens the encoder reads of an item) splits into
  its embedded enumerations ("(1) ... (2) ...", "a) ... b) ...") and sentences, and a part still too
  long at its semicolons (then commas) into runs of at most 400 characters. PDQ paragraphs that lost
  their line breaks split before inline labels ("... 18 and over Performance status: ECOG 0-2") and
  before "No"/"Not" after a lower-case word. Parts keep the item's kind and label; a lead-in ending
  with ":" goes with the part after it, a part that is only "and"/"or" with the part before it. The
  encoder would otherwise read only the first 128 tokens of such an item, and explanations would rank
  a whole paragraph as one criterion. Items already split (saved workspaces) are never re-split.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from engine.records.trial import Criterion

#: a line at least this long (indent beyond the common margin included) was wrapped by the exporter: the next line goes on
#: with the same sentence. Legacy text wraps near 95 columns; shorter lines end on purpose.
WRAPPED_LINE_MIN = 60
#: labels ("Age:", "DISEASE CHARACTERISTICS:") are at most this long
LABEL_MAX = 40
#: a header (with its wrapped parenthesis) is at most this long; longer text is a criterion
HEADER_MAX = 160

_CR_ENTITY = re.compile(r"&#(?:[xX][dD]|13);\n?")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>=~^&|:])")
_SYMBOL_BULLET = re.compile(r"(?:[-*+]|\\\*)(?=\s|$)|[•·▪►➢●○◦■□‣⁃–—](?=\s|\w)|-(?=[A-Z(])|o(?=\s{2,}|\t)")
_NUMBER_BULLET = re.compile(r"\(\d{1,3}\)(?=\s)|\d{1,3}(?:\\?\.|\))(?=\s)|\d{1,2}(?:\.\d{1,2})+(?:\.(?=\s)|(?=\s+[A-Z(]))")
_LETTER_BULLET = re.compile(r"\((?:[a-zA-Z]|[ivxIVX]{1,4})\)(?=\s)|(?:[a-zA-Z]|[ivx]{2,4}|[IVX]{2,4})[.)](?=\s)")
_EMPHASIS_EDGES = re.compile(r"^[\s*_#>]+|[\s*_]+$")

_KIND_WORD = r"(?P<word>inclusions?|exclusions?|non-?inclusions?)"
_CRITERIA_WORD = r"(?:criteria|criterion|citeria|requirements?)"
_QUALIFIER = r"(?P<qual>\s*[-–(][^.:]{0,110}|\s+for\s+[^.:]{1,80})?"
#: "Exclusion Criteria", "Key inclusion criteria", "Other Exclusions", "Exclusion citeria" (a typo
#: in the corpus), "Inclusion criteria - donor", "Inclusion Criteria (Patients must meet ...)"
_STRICT_HEADER = re.compile(
    r"(?P<pre>(?:(?:key|main|major|general|additional|other|specific|principal|selected|primary|"
    r"secondary|further|study|patient|subject|participant|protocol)\s+){0,3})"
    + _KIND_WORD + rf"(?:\s+{_CRITERIA_WORD})?" + _QUALIFIER + r"\s*\.?",
    re.I,
)
#: with a colon, any short qualifier before the kind: "Erectile dysfunction cohort inclusion criteria:"
_QUALIFIED_HEADER = re.compile(
    r"(?P<pre>(?:\S+\s+){1,6}?)" + _KIND_WORD + rf"\s+{_CRITERIA_WORD}" + _QUALIFIER + r"\s*\.?", re.I
)
#: headers that keep the kind: "Eligibility Criteria", "Protocol Entry Criteria", "Criteria for ..."
_NEUTRAL_HEADER = re.compile(
    r"(?P<pre>(?:(?:protocol|study|general|patient|subject|participant)\s+)?)"
    r"(?:(?:entry|eligibility|selection|enrol{1,2}ment)\s+)?(?:criteria|eligibility|requirements)"
    r"(?P<qual>\s+for\s+[^.:]{1,80}|\s*\([^)]{0,80}\))?\s*\.?",
    re.I,
)
_EXCLUSION_CUE = re.compile(
    r"\b(?:exclusion|exclusions|exclusionary|non-?inclusion|ineligible|excluded)\b"
    r"|\bnot\s+(?:be\s+)?(?:eligible|included|enrolled)\b|\bmust\s+not\s+(?:meet|have|fulfil|fulfill|satisfy)\b"
    r"|\b(?:cannot|can\s*not|may\s+not)\s+(?:participate|be\s+included|take\s+part|enter|enroll)\b",
    re.I,
)
_INCLUSION_CUE = re.compile(
    r"\b(?:inclusion|inclusions|included|eligible)\b"
    r"|\bmay\s+(?:participate|take\s+part|enroll|be\s+enrolled)\b"
    r"|\bmust\s+(?:meet|fulfil|fulfill|satisfy|have\s+all)\b",
    re.I,
)
_BOTH_KINDS = re.compile(r"\binclusion\b.*\bexclusion\b|\bexclusion\b.*\binclusion\b", re.I)
_DASHED_LABEL = re.compile(r"-{2,}\s*([^-].*?)\s*-{2,}")
#: "Excluded:", "Allowed:", "Excluded within 30 days of study entry:" qualify the items under them
#: (NIAID records list them under both headers): labels, not kind switches
_QUALIFIER_LABEL = re.compile(r"(?:excluded|allowed|required|recommended|permitted|not\s+allowed)\b.{0,70}:", re.I)
#: a header or lead-in is dropped when it only restates the kind, i.e. has no word outside this
#: list ("Patients will not be eligible for this study if they:", "Key inclusion criteria");
#: one with content ("Receptive partners with the following ... are excluded:", "Inclusion
#: criteria - donor") becomes a label for the items under it, or an item when it is long
_FILLER = set("""
    a all an and any are as at be below both considered criteria criterion do does each either
    eligible enroll enrolled enrollment enter entering entry excluded exclusion exclusions
    following for from fulfil fulfill fulfilling has have he he/she her his if in include included
    includes including inclusion inclusions individuals is listed may meet meeting meets must
    not of one only or participants participant participate participation patient patients people
    persons reasons satisfy she should study subject subjects such that the these they this those
    to trial volunteer volunteers was were when which who will with would you your ineligible
    apply requirements requirement eligibility key main major general additional other specific
    principal selected primary secondary further protocol citeria criterias non-inclusion
    non-inclusions are: following: noninclusion symptoms symptom conditions condition diseases
    disease
""".split())
#: a content-bearing header at most this long becomes a label; a longer one stays an item
HEADER_LABEL_MAX = 70


@dataclass
class _Header:
    kind: str | None  # None: a neutral header, the kind stays
    rest: str = ""  # text after the colon: the first item
    label: str = ""  # prefix for the items under it
    item: str = ""  # the header text itself, kept as an item
    #: a lead-in sentence ("Patients with the following are excluded:") under a section label
    #: ("Co-existing Condition:") keeps that label
    lead_in: bool = False


@dataclass
class _Block:
    """One logical line: a bullet or a paragraph start with its wrapped continuation lines."""

    indent: int
    bullet: bool
    parts: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.parts)


@dataclass
class _Item:
    kind: str
    indent: int
    bullet: bool
    parts: list[str]
    children: list[str] = field(default_factory=list)
    label: str = ""


def split_criteria(text: str | None, regroup: bool = True) -> list[Criterion]:
    """Split eligibility text (legacy layout or API v2 Markdown) into ordered `Criterion` items.

    Text before any header, or with no header at all, becomes inclusion items. `regroup`: lead-ins
    ending with ":" join the next item, and items longer than `LONG_ITEM_CHARS` are split into
    sentences, enumerations and lists (`split_long_item`); False keeps one item per bullet or
    paragraph as written (the splitting before 2026-12-07).
    """
    if not text or not text.strip():
        return []
    return _assemble(_blocks(tidy_criteria_text(text)), regroup)


def tidy_criteria_text(text: str | None) -> str:
    """Eligibility text with `&#xD;`/CR line ends made plain newlines and the exporter's common
    left margin (8 spaces in legacy records) removed; what readers keep as `criteria_text`.

    Splitting the tidied text gives the same items as splitting the original.
    """
    text = _CR_ENTITY.sub("\n", text or "")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").expandtabs(4).split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    margin = min((len(l) - len(l.lstrip()) for l in lines if l.strip()), default=0)
    return "\n".join(l[margin:].rstrip() for l in lines)


def join_criteria(items: Iterable[Criterion], include_disabled: bool = False) -> str:
    """Write items in the legacy layout ("Inclusion Criteria:" then "  -  item" lines).

    Disabled items (what-if removals) are left out unless `include_disabled`. `split_criteria` reads
    the result back to the same items, except items that themselves look like a header
    ("Exclusion criteria:") or carry Markdown escapes, and, with `regroup`, items that end with ":"
    or are longer than `LONG_ITEM_CHARS`.
    """
    groups: dict[str, list[str]] = {"inclusion": [], "exclusion": []}
    for item in items:
        if not item.enabled and not include_disabled:
            continue
        text = " ".join(item.text.split())
        if text:
            groups["exclusion" if item.kind == "exclusion" else "inclusion"].append(text)
    lines: list[str] = []
    for kind, title in (("inclusion", "Inclusion Criteria:"), ("exclusion", "Exclusion Criteria:")):
        if not groups[kind]:
            continue
        if lines:
            lines.append("")
        lines += [title, ""]
        for text in groups[kind]:
            lines += [f"  -  {text}", ""]
        lines.pop()
    return "\n".join(lines)


# -- pass 1: physical lines -> logical blocks ------------------------------------------------------
def _match_bullet(stripped: str):
    for pattern in (_SYMBOL_BULLET, _NUMBER_BULLET, _LETTER_BULLET):
        m = pattern.match(stripped)
        if m:
            return m, pattern is _LETTER_BULLET
    return None, False


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    current: _Block | None = None
    previous_line = ""  # the last physical line, "" after a blank one
    for raw in text.split("\n"):
        line = raw.rstrip()
        stripped = line.lstrip()
        if not stripped:
            if current is not None and current.parts:
                current = None
            previous_line = ""
            continue
        indent = len(line) - len(stripped)
        match, is_letter = _match_bullet(stripped)
        if match and is_letter and previous_line and current is not None:
            # "E. coli" wrapped onto its own line is not a lettered bullet: accept letters only
            # after a blank line, after a finished sentence, or at the bullet column
            ended = previous_line.rstrip().endswith((".", ":", ";", "!", "?", ")"))
            if not ended and indent > current.indent:
                match = None
        if match:
            body = stripped[match.end():].strip()
            current = _Block(indent, True, [_unescape(body)] if body else [])
            blocks.append(current)
        elif current is not None and (not current.parts or previous_line and (
            indent > current.indent or len(previous_line) >= WRAPPED_LINE_MIN
        )):
            # (a bare "-" line takes the paragraph after it as its text)
            current.parts.append(_unescape(stripped))
        else:
            current = _Block(indent, False, [_unescape(stripped)])
            blocks.append(current)
        previous_line = line
    return blocks


def _unescape(text: str) -> str:
    return _MD_ESCAPE.sub(r"\1", text) if "\\" in text else text


# -- pass 2: blocks -> items -------------------------------------------------------------------------
def _assemble(blocks: list[_Block], regroup: bool = True) -> list[Criterion]:
    drafts: list[_Draft] = []
    kind = "inclusion"
    # labels: a section ("Concurrent Medication:", "Age:") and a qualifier under it ("Allowed:")
    section, qualifier, label_indent, label_fresh = "", "", -1, False
    current: _Item | None = None
    # right after "Exclusion Criteria:", a lead-in ("Patients eligible for this study must not
    # meet any of the following:") elaborates the header: it never switches the kind back
    after_header = False

    def flush() -> None:
        nonlocal current
        if current is not None:
            drafts.append(_Draft(current.kind, current.label, _compose(current)))
        current = None

    for block in blocks:
        text = " ".join(block.text.split())
        if not text:
            continue
        header = _header(text, block.bullet)
        if header is not None:
            flush()
            if header.lead_in and after_header:
                header.kind = None
            after_header = header.kind is not None and not header.lead_in and not header.rest
            # a lead-in under a section label of the same kind keeps that label
            keep = header.lead_in and header.kind in (None, kind) and bool(section)
            kind = header.kind or kind
            if header.label:
                qualifier = header.label if keep else ""
                section = section if keep else header.label
                label_indent, label_fresh = block.indent, True
            elif not keep:
                section = qualifier = ""
            if header.item:
                drafts.append(_Draft(kind, "", header.item))
            rest = _strip_leading_bullet(header.rest)
            if rest:
                current = _Item(kind, block.indent, False, [rest], label=section)
            continue
        after_header = False
        if current is not None and block.indent >= current.indent + 2:
            if block.bullet and current.bullet:
                current.children.append(text)
                continue
            if not block.bullet:
                if current.children:
                    current.children[-1] += " " + text
                else:
                    current.parts.append(text)
                continue
        if not block.bullet and (new_label := _label(text)):
            flush()
            if _QUALIFIER_LABEL.fullmatch(new_label):
                qualifier = new_label
            else:
                section, qualifier = new_label, ""
            label_indent, label_fresh = block.indent, True
            continue
        flush()
        label = f"{section} {qualifier}".strip()
        applies = block.bullet or block.indent > label_indent or label_fresh
        current = _Item(kind, block.indent, block.bullet, [text], label=label if applies else "")
        if not applies or (not block.bullet and block.indent <= label_indent):
            section = qualifier = ""
        label_fresh = False
    flush()
    if regroup:
        drafts = [_Draft(d.kind, d.label, part) for d in _merge_lead_ins(drafts) for part in split_long_item(d.body)]
    return [c for d in drafts if (c := d.criterion())]


@dataclass
class _Draft:
    """An item before its label is put in front: lead-ins merge and long paragraphs split on the body."""
    kind: str
    label: str
    body: str

    def criterion(self) -> Criterion | None:
        text = " ".join(f"{self.label} {self.body}".split())
        return Criterion(text=text, kind=self.kind) if re.search(r"[^\W_]", text) else None  # type: ignore[arg-type]


def _merge_lead_ins(drafts: list[_Draft]) -> list[_Draft]:
    """An item that ends with ":" ("NOTE:", "Also patient must be:", "... defined as:") joins the item
    after it, when that item is on the same side under the same label: alone it states nothing, yet
    explanations ranked it as a criterion. A lead-in with nothing after it stays as it is."""
    out: list[_Draft] = []
    for draft in drafts:
        lead = out[-1] if out else None
        if lead and lead.body.endswith(":") and (lead.kind, lead.label) == (draft.kind, draft.label):
            out[-1] = _Draft(draft.kind, draft.label, f"{lead.body} {draft.body}")
        else:
            out.append(draft)
    return out


def _compose(item: _Item) -> str:
    """The item's text with its sub-bullets folded in, without its label."""
    text = " ".join(item.parts)
    if item.children:
        joined = ""
        for i, child in enumerate(item.children):
            child = child.strip()
            if i < len(item.children) - 1:
                child = child.rstrip(";,").rstrip()
                joined += child + (" " if child.endswith((".", ":")) else "; ")
            else:
                joined += child
        sep = " " if text.endswith((":", ";", ",", ".", "-")) else ": "
        text = f"{text}{sep}{joined}" if text else joined
    return " ".join(text.split())


def _strip_leading_bullet(text: str) -> str:
    text = text.strip()
    match, _ = _match_bullet(text)
    return text[match.end():].strip() if match else text


def _header(text: str, bullet: bool) -> _Header | None:
    """What a header line does, or None when `text` is not a header."""
    clean = _EMPHASIS_EDGES.sub("", text)
    if len(clean) > HEADER_MAX or not clean:
        return None
    head, colon, rest = clean.partition(":")
    head = head.strip().rstrip("*_ ").strip()
    rest = rest.strip().lstrip("*_").strip()
    if not bullet and _QUALIFIER_LABEL.fullmatch(clean):
        return None
    match = _STRICT_HEADER.fullmatch(head)
    if match is None and colon and not bullet:
        match = _QUALIFIED_HEADER.fullmatch(head)
    if match is not None:
        if rest and len(head) > 60:
            return None
        word = match.group("word").lower()
        kind = "inclusion" if word.startswith("incl") else "exclusion"
        content = f"{match.group('pre')} {match.group('qual') or ''}"
        return _Header(kind, rest, label="" if _only_filler(content) else f"{head}:")
    match = _NEUTRAL_HEADER.fullmatch(head)
    if match is not None and (colon or not bullet):
        content = f"{match.group('pre')} {match.group('qual') or ''}"
        return _Header(None, rest, label="" if _only_filler(content) else f"{head}:")
    # a lead-in sentence that names the kind and ends at its colon ("... if they:")
    if bullet or not colon or rest or _BOTH_KINDS.search(head):
        return None
    if _EXCLUSION_CUE.search(head):
        kind = "exclusion"
    elif _INCLUSION_CUE.search(head):
        kind = "inclusion"
    else:
        return None
    if _only_filler(head):
        return _Header(kind, lead_in=True)
    if len(clean) <= HEADER_LABEL_MAX:
        return _Header(kind, label=clean, lead_in=True)
    return _Header(kind, item=clean, lead_in=True)


def _only_filler(text: str) -> bool:
    words = re.findall(r"[a-z0-9/]+(?:-[a-z0-9]+)*:?", text.lower())
    return all(word.rstrip(":") in _FILLER for word in words)


def _label(text: str) -> str:
    """The label text ending with ':' when `text` is a short section label, else ''."""
    clean = _EMPHASIS_EDGES.sub("", text)
    dashed = _DASHED_LABEL.fullmatch(clean)
    if dashed:
        return dashed.group(1).rstrip(":") + ":"
    if clean.endswith(":") and (len(clean) <= LABEL_MAX or _QUALIFIER_LABEL.fullmatch(clean)):
        return clean
    return ""


# -- pass 3: long paragraphs -> items ------------------------------------------------------------------
#: an item longer than this (characters, its label left out) is split into its enumerated parts and
#: sentences, and a part still longer than this at its semicolons. The encoder reads an item's first
#: `engine.features.text_encoder.MAX_ITEM_TOKENS` (128) MiniLM tokens; criteria text runs at a median
#: 4.2 characters per token and at 3.0 for the densest 5% (numbers, units, symbols), so 400 characters
#: are ~95 tokens and at worst ~130: of the 98,928 items of ctgov_xml/ and TOP's learning rows, 25 of
#: at most 400 characters are longer than 128 tokens. Characters, not tokens: records know no tokenizer.
LONG_ITEM_CHARS = 400

#: words before a period that do not end a sentence ("e.g. Aspirin", "Dr. Smith", "vs. Placebo")
_ABBREVIATIONS = set("""
    e.g eg i.e ie approx appr ca cf dr drs mr mrs ms prof st vs v no nos fig figs ref refs incl
    al max min resp esp viz sec ed vol pp p
""".split())
#: a sentence end: ".", "!" or "?" (a closing bracket or quote may follow), then space and a capital,
#: a digit or an opening bracket; decimals ("1.5") have no space and never match
_SENTENCE_END = re.compile(r"(?<=[.!?])[)\]\"'”]?\s+(?=[A-Z0-9(\[\"'“≥≤<>])")
#: embedded enumerations: "(1) ...", "1) ...", "1. ..." (after a clause end only), "(a) ...", "a) ...",
#: "(ii) ...", "(A) ..."; they count only as a run numbered in order from 1, a or i
_ENUM_MARKER = re.compile(
    r"(?:^|(?<=[\s:;,]))(?P<mark>\((?P<pn>\d{1,2}|[a-z]|[A-Z]|[ivx]{1,4})\)"
    r"|(?P<cn>\d{1,2}|[a-z]|[ivx]{1,4})\)"
    r"|(?:^|(?<=[.:;]\s))(?P<dn>\d{1,2})\.(?=\s))(?=\s|(?<=\))[A-Za-z])"
)
_ROMAN = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"]
#: a piece made of these words alone is a fragment that stays with its neighbour
_CONNECTIVES = {"and", "or", "and/or", "but", "nor", "plus", "also", "either", "then", "etc", "or:", "and:"}


def split_long_item(text: str, limit: int = LONG_ITEM_CHARS) -> list[str]:
    """`text` as one item when it is at most `limit` characters, else its parts.

    A long item splits into its embedded enumerations ("(1) ... (2) ...", "a) ... b) ...") and its
    sentences (not after "e.g.", "i.e.", "approx.", "Dr.", "vs." or inside brackets), each an item; a
    part still longer than `limit` splits at its semicolons (outside brackets) into runs of at most
    `limit` characters, so that "one of the following: A; B" stays together as far as it can. A lead-in
    ending with ":" goes with the part after it; a part that is only "and", "or" or punctuation stays
    with the part before it. Items of at most `limit` characters are never split.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return [text]
    pieces = [s for part in _split_enumeration(text) for s in _split_sentences(part)]
    pieces = _merge_fragments(pieces)
    out: list[str] = []
    for piece in pieces:
        if len(piece) <= limit:
            out.append(piece)
            continue
        for part in _merge_fragments(_split_run_on(piece)):
            out += _pack(part, ";", limit) if len(part) > limit else [part]
    return [p for part in out for p in (_pack(part, ",", limit) if len(part) > limit else [part])]


#: where PDQ paragraphs that lost their line breaks start a new item: before an inline label
#: ("... over Performance status: ECOG 0-2 Life expectancy: ...") and before "No"/"Not" after a
#: lower-case word ("... disease No brain metastases")
_RUN_ON_BREAK = re.compile(
    r"(?<=[a-z0-9%)\]])\s+(?=[A-Z][a-z]+(?:[ /-][a-z]+){0,2}:\s|(?:No|Not)\s+[a-z])"
)


def _split_run_on(text: str) -> list[str]:
    depth = _depths(text)
    pieces, start = [], 0
    for m in _RUN_ON_BREAK.finditer(text):
        before = text[start:m.start()].split()
        label = not text[m.end():].startswith(("No ", "Not "))
        # "Current Asthma Therapy:" is one label: a capitalized word before it belongs to it
        if label and before and before[-1][:1].isupper():
            continue
        if depth[m.start()] == 0:
            pieces.append(text[start:m.start()].strip())
            start = m.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def _depths(text: str) -> list[int]:
    """Bracket depth before each character, counting only brackets that close ("(or at least 15
    slides" never closes: the text after it is not inside it)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if ch in "([{":
            stack.append((ch, i))
        elif ch in pairs:
            while stack and stack[-1][0] != pairs[ch]:
                stack.pop()
            if stack:
                spans.append((stack.pop()[1], i))
    delta = [0] * (len(text) + 1)
    for start, end in spans:
        delta[start + 1] += 1
        delta[end + 1] -= 1
    out, depth = [], 0
    for i in range(len(text)):
        depth += delta[i]
        out.append(depth)
    return out


def _ordinal(value: str, style: str) -> int | None:
    """1 for "1", "a", "A", "i" in their style ("num", "lower", "upper", "roman"), else the rank or None."""
    if style == "num":
        return int(value) if value.isdigit() else None
    if style == "roman":
        return _ROMAN.index(value) + 1 if value in _ROMAN else None
    if len(value) != 1:
        return None
    if style == "lower" and value.islower():
        return ord(value) - ord("a") + 1
    if style == "upper" and value.isupper():
        return ord(value) - ord("A") + 1
    return None


def _split_enumeration(text: str) -> list[str]:
    """The parts of the longest in-order run of enumeration markers (at least two), markers dropped;
    the lead-in before the first marker stays a part of its own only when it ends a sentence."""
    markers = []  # (start, end, form, value)
    for m in _ENUM_MARKER.finditer(text):
        if m.group("pn") is not None:
            form, value = "()", m.group("pn")
        elif m.group("cn") is not None:
            form, value = ")", m.group("cn")
        else:
            form, value = ".", m.group("dn")
        markers.append((m.start("mark"), m.end("mark"), form, value))
    best: list[tuple[int, int]] = []
    for style in ("num", "lower", "upper", "roman"):
        for form in ("()", ")", "."):
            run: list[tuple[int, int]] = []
            for start, end, f, value in markers:
                if f == form and _ordinal(value, style) == len(run) + 1:
                    run.append((start, end))
            if len(run) > len(best):
                best = run
    if len(best) < 2:
        return [text]
    parts = [text[:best[0][0]].strip()]
    for i, (_, end) in enumerate(best):
        stop = best[i + 1][0] if i + 1 < len(best) else len(text)
        parts.append(text[end:stop].strip())
    # the separator before the next marker ("...;", "..., and") is not part of the item; "or" is
    parts = [re.sub(r"(?:[;,]\s*and|[;,])$", "", p).strip() for p in parts]
    if parts[0].endswith((".", "!", "?")):
        return [p for p in parts if p]
    lead = parts.pop(0)
    parts[0] = f"{lead} {parts[0]}".strip()
    return [p for p in parts if p]


def _split_sentences(text: str) -> list[str]:
    depth = _depths(text)
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        end = m.start()
        if depth[end] > 0:  # inside brackets, or the bracket after the period closes one
            continue
        word = text[start:end].rsplit(None, 1)[-1].lstrip("([\"'").lower() if text[start:end].strip() else ""
        if word.rstrip(".") in _ABBREVIATIONS or word in _ABBREVIATIONS:
            continue
        if re.fullmatch(r"(?:[a-z]\.){2,}", word):  # "U.S.", "a.m."
            continue
        pieces.append(text[start:m.end()].strip())
        start = m.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def _is_fragment(piece: str) -> bool:
    words = re.findall(r"[^\W_][\w/'-]*:?", piece.lower())
    return not words or all(w in _CONNECTIVES for w in words)


def _merge_fragments(pieces: list[str]) -> list[str]:
    """Lead-ins ending with ":" join the next piece; connective-only pieces join the previous one."""
    out: list[str] = []
    carry = ""
    for piece in pieces:
        piece = f"{carry} {piece}".strip() if carry else piece
        carry = ""
        if piece.endswith(":"):
            carry = piece
        elif _is_fragment(piece) and out:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    if carry:  # a lead-in with nothing after it
        out.append(carry)
    return out


def _pack(text: str, sep: str, limit: int) -> list[str]:
    """`text` cut at `sep` (outside brackets) into runs of at most `limit` characters ("A; B" / "C")."""
    depth = _depths(text)
    segments, start = [], 0
    for m in re.finditer(re.escape(sep) + r"\s+", text):
        if depth[m.start()] == 0 and not (sep == "," and text[m.start() - 1:m.start()].isdigit()
                                          and text[m.end():m.end() + 1].isdigit()):
            segments.append(text[start:m.start()].strip())
            start = m.end()
    segments.append(text[start:].strip())
    segments = [s for s in segments if s]
    merged: list[str] = []
    for seg in segments:  # "; or B", "; and" stay with the segment before
        if merged and _is_fragment(seg):
            merged[-1] = f"{merged[-1]}{sep} {seg}"
        else:
            merged.append(seg)
    out: list[str] = []
    for seg in merged:
        if out and (out[-1].endswith(":") or len(out[-1]) + 2 + len(seg) <= limit):
            out[-1] = f"{out[-1]}{' ' if out[-1].endswith(':') else sep + ' '}{seg}"
        else:
            out.append(seg)
    return out
