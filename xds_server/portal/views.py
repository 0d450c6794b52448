"""Display helpers shared by the pages (Jinja filters, the document view model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xds_server.core.metadata import DocumentEntry
from xds_server.terminology import ProfileError, load_displays
from xds_server.wiring.documents import is_masked


def ins_of(patient_id: str | None) -> str:
    """The INS part of a canonical CX (``VALUE^^^&OID&ISO^NH`` -> ``VALUE``)."""
    return (patient_id or "").split("^", 1)[0]


@cache
def french_zone() -> tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # no tz database on this machine: UTC, said so
        return UTC


def local(moment: datetime) -> str:
    """A moment as the patient reads it, in French time (``JJ/MM/AAAA à HHhMM``); naive means UTC."""
    zone = french_zone()
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    shown = aware.astimezone(zone).strftime("%d/%m/%Y à %Hh%M")
    return shown if zone is not UTC else f"{shown} UTC"


def dtm(value: str | None) -> str:
    """An HL7 DTM (``YYYYMMDD[hhmm[ss]]``, UTC in XDS metadata) as ``JJ/MM/AAAA[ à HHhMM]`` in French time; a
    date alone is shown as it is (no time to convert)."""
    text = (value or "").strip()
    if len(text) < 8 or not text[:8].isdigit():
        return text
    if len(text) >= 12 and text[8:12].isdigit():
        return local(datetime.strptime(text[:12], "%Y%m%d%H%M").replace(tzinfo=UTC))
    return f"{text[6:8]}/{text[4:6]}/{text[0:4]}"


def when(moment: datetime | None) -> str:
    return "" if moment is None else local(moment)


def xcn_name(xcn: str | None) -> str:
    """``ID^FAMILY^GIVEN^...`` -> ``GIVEN FAMILY`` (the id when no name is given)."""
    parts = (xcn or "").split("^")
    name = " ".join(p for p in (parts[2] if len(parts) > 2 else "", parts[1] if len(parts) > 1 else "") if p)
    return name or (parts[0] if parts else "")


def logical_uuid(entry: DocumentEntry) -> str:
    return (entry.logical_id or entry.entry_uuid).removeprefix("urn:uuid:")


@dataclass(frozen=True, slots=True)
class DocumentView:
    id: str
    title: str
    date: str
    author: str
    category_key: str
    category: str
    masked: bool
    mime: str


#: where class codes get their names (the DMP's, then the CI-SIS ones)
_CLASS_CODES = ("JDV_J57-ClassCode-DMP.csv", "JDV_J06-XdsClassCode-CISIS.csv")


def display_of(code: str, files: tuple[str, ...]) -> str | None:
    for name in files:
        try:
            found = load_displays(name).get(code)
        except ProfileError:
            continue
        if found:
            return found
    return None


def profession_name(code: str) -> str:
    return display_of(code, ("TRE_G15-ProfessionSante.csv",)) or f"profession {code}"


def document_view(entry: DocumentEntry) -> DocumentView:
    code = entry.class_code
    return DocumentView(
        id=logical_uuid(entry),
        title=(entry.title.value if entry.title else "") or "Document sans titre",
        date=dtm(entry.creation_time),
        author=xcn_name(entry.authors[0].person) if entry.authors else "",
        category_key=code.code if code else "",
        category=(code.display or display_of(code.code, _CLASS_CODES) or code.code)
        if code
        else "Autres documents",
        masked=is_masked(entry),
        mime=entry.mime_type,
    )


__all__ = ["DocumentView", "document_view", "dtm", "ins_of", "logical_uuid", "when", "xcn_name"]
