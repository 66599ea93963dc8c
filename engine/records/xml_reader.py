"""Legacy ClinicalTrials.gov records (`<clinical_study>`, the AllPublicXML layout) → `Trial`.

The parser is hardened because record files come from anywhere (downloads, colleagues, mail):
no entity expansion, no network, no DTD loading, no huge-tree mode, and any DOCTYPE is refused
outright — CT.gov records never carry one, so a DOCTYPE means a hostile (entity bomb, external
entity reading local files) or foreign file. Files over `MAX_XML_BYTES` (20 MB; the largest real
record is well under 1 MB) are refused before parsing.

No schema validation at read time: about 2% of real records fail NLM's own XSD through schema
drift (`minimum_age` "0 Years", legacy `non_inferiority_type` values); we read what is there.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from lxml import etree

from engine.records.errors import RecordError
from engine.records.fields import build_trial, is_drug_intervention, parse_enrollment
from engine.records.limits import MAX_XML_BYTES
from engine.records.files import MB, looks_binary, looks_utf16, read_bytes
from engine.records.trial import Trial

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
_DOCTYPE_UTF16 = ("<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=", re.I)


def hardened_parser() -> etree.XMLParser:
    """An lxml parser that never expands entities, loads DTDs or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml_bytes(data: bytes, path: str | os.PathLike) -> tuple[etree._Element, list[str]]:
    """The root element of `data`, and warnings; RecordError for hostile or malformed XML."""
    if _has_doctype(data):
        raise RecordError(
            path,
            "has a DOCTYPE declaration; ClinicalTrials.gov records have none, and DTDs can "
            "expand entities or read local files, so this file is refused",
        )
    if looks_binary(data):
        raise RecordError(path, "is binary data, not an XML record")
    warnings: list[str] = []
    if looks_utf16(data) and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = (b"\xfe\xff" if data[0] == 0 else b"\xff\xfe") + data  # UTF-16 without its mark
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        if _is_encoding_error(exc) and not _DECLARED_ENCODING.match(data):
            # undeclared legacy encoding: Windows-1252 decodes every byte a Western file holds
            text = data.decode("cp1252", errors="replace")
            try:
                root = etree.fromstring(text.encode("utf-8"), hardened_parser())
            except etree.XMLSyntaxError as again:
                raise RecordError(path, _syntax_message(again)) from None
            warnings.append("file is not UTF-8 and declares no encoding: read as Windows-1252")
        else:
            raise RecordError(path, _syntax_message(exc)) from None
    if root.getroottree().docinfo.doctype:  # the byte scan above should have caught it
        raise RecordError(path, "has a DOCTYPE declaration: refused")
    return root, warnings


def read_ctgov_xml(path: str | os.PathLike) -> Trial:
    """One legacy `<clinical_study>` file → `Trial` (empty criteria give a warning, not an error)."""
    data = read_bytes(path, MAX_XML_BYTES, "ClinicalTrials.gov XML")
    root, warnings = parse_xml_bytes(data, path)
    return trial_from_element(root, path, warnings)


def trial_from_element(root: etree._Element, path: str | os.PathLike, warnings: list[str] | None = None) -> Trial:
    """The Trial of a parsed `<clinical_study>` element (RecordError for any other root)."""
    warnings = list(warnings or [])
    name = etree.QName(root).localname if isinstance(root.tag, str) else str(root.tag)
    if name != "clinical_study":
        raise RecordError(path, f"not a ClinicalTrials.gov <clinical_study> record (root is <{name}>)")
    if etree.QName(root).namespace:
        _strip_namespaces(root)

    def text(xpath: str) -> str:
        node = root.find(xpath)
        return "".join(node.itertext()).strip() if node is not None else ""  # build_trial tidies and cuts

    nct_id = text("id_info/nct_id")
    if not nct_id:
        nct_id = Path(path).stem
        warnings.append(f"no <id_info>/<nct_id>: named after the file ({nct_id})")
    interventions = root.findall("intervention")
    drugs = [node.findtext("intervention_name") or "" for node in interventions
             if is_drug_intervention(node.findtext("intervention_type"))]
    criteria_node = root.find("eligibility/criteria/textblock")
    criteria_text = "".join(criteria_node.itertext()) if criteria_node is not None else ""
    return build_trial(
        nct_id=nct_id,
        title=text("brief_title") or text("official_title"),
        raw_phase=text("phase"),
        status=text("overall_status"),
        sponsor=text("sponsors/lead_sponsor/agency"),
        start_date=text("start_date"),
        completion_date=text("completion_date") or text("primary_completion_date"),
        enrollment=parse_enrollment(text("enrollment"), warnings),
        study_type=text("study_type"),
        conditions=["".join(c.itertext()) for c in root.findall("condition")],
        drugs=drugs,
        criteria_text=criteria_text,
        source_path=str(path),
        source_format="ctgov-xml",
        warnings=warnings,
        any_intervention=bool(interventions),
    )


def _has_doctype(data: bytes) -> bool:
    return bool(_DOCTYPE.search(data)) or any(p.lower() in data.lower() for p in _DOCTYPE_UTF16)


def _is_encoding_error(exc: etree.XMLSyntaxError) -> bool:
    return "encoding" in (exc.msg or "").lower() or "utf-8" in (exc.msg or "").lower()


#: libxml2's own limits (kept: `huge_tree=False`), in words a user can act on
_PARSER_LIMITS = (
    ("excessive depth", "elements nested deeper than 256 levels (a real record nests 4): refused"),
    ("text node too long", "a text over 10,000,000 characters (the parser's limit): refused"),
    ("buffer size limit", "a name, attribute or text over the parser's size limit: refused"),
    ("huge input lookup", "a text over the parser's size limit: refused"),
)


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    msg = re.sub(r",?\s*line \d+, column \d+\s*$", "", (exc.msg or "").strip())
    where = f"line {exc.lineno}" if exc.lineno else "an unknown line"
    for cue, words in _PARSER_LIMITS:
        if cue in msg.lower():
            return f"malformed XML at {where}: {words}"
    if "premature end" in msg.lower() or "end of data" in msg.lower():
        return f"malformed XML, truncated at {where}: {msg}"
    return f"malformed XML at {where}: {msg}"


def _strip_namespaces(root: etree._Element) -> None:
    for node in root.iter():
        if isinstance(node.tag, str):
            node.tag = etree.QName(node).localname
