"""HL7 v2 ADT (ITI-8) -> feed requests, and the ACK that answers them.

Theory of operation. A message is decoded (MSH-18 charset, else UTF-8, else ISO 8859-1), its segments
split on CR (LF and CRLF tolerated) and parsed by hl7apy, which knows the structures of every v2 version; we
then read the few fields the registry keeps (see FIELDS). Acknowledgement follows HL7 original mode:

* AA -- applied;
* AE -- the content is wrong (no identifier of the domain, a bad INS, a dead id, a missing segment): nothing
  was changed, sending it again unchanged will fail again;
* AR -- the message was not processed: framing, not HL7, unsupported message type / event / version, or a
  temporary failure of the registry (the sender may retry).

AE and AR carry an ERR segment (HL7 table 0357 code, location, reason) and the reason in MSA-3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final, Literal

from hl7apy import exceptions as hl7_errors
from hl7apy.core import Message, Segment
from hl7apy.parser import parse_message

from xds_server.core.patient_feed import (
    Demographics,
    FedPatient,
    FeedProblem,
    FeedRefused,
    Sex,
    pick_patient_id,
)
from xds_server.core.profile import DomainProfile

#: Versions whose ADT the feed reads (ITI-8 names 2.3.1; 2.5 is the current PAM / ITI-30 one).
SUPPORTED_VERSIONS: Final = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1"})
#: A01 admit, A04 register, A05 pre-admit, A08 update: create or update. A40: merge (ITI TF-2a 3.8).
UPDATE_EVENTS: Final = frozenset({"A01", "A04", "A05", "A08"})
MERGE_EVENT: Final = "A40"

#: The fields read, and what each becomes (the issue note lists them).
FIELDS: Final = {
    "MSH-3/4": "sending application / facility: the ACK's receiving application / facility (and the log)",
    "MSH-5/6": "receiving application / facility: the ACK's sending application / facility",
    "MSH-9": "message type (ADT) and trigger event (A01/A04/A05/A08/A40); EVN-1 when MSH-9.2 is empty",
    "MSH-10": "message control id: MSA-2 of the ACK",
    "MSH-11": "processing id: echoed in the ACK",
    "MSH-12": "version id (2.3, 2.3.1, 2.4, 2.5, 2.5.1): how the message is parsed and the ACK written",
    "MSH-18": "character set (UNICODE UTF-8, 8859/1 ...): how the bytes are decoded and the ACK encoded",
    "PID-3": "patient identifier list: the repetition of the domain's authority becomes the patient id "
    "(CX.1 + CX.4, CX.5 dropped); the other repetitions are kept as cross-references",
    "PID-5": "patient name, first repetition: XPN.1 family name, XPN.2 and XPN.3 given names",
    "PID-7": "date of birth (YYYYMMDD...; a year or month alone is ignored): the record's birth date",
    "PID-8": "administrative sex (HL7 table 0001)",
    "MRG-1": "A40: the subsumed patient identifier list (the repetition of the domain's authority is merged "
    "into the patient of PID-3)",
}

AckCode = Literal["AA", "AE", "AR"]

#: HL7 table 0357, message error condition codes.
ERROR_TEXT: Final = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    207: "Application internal error",
}
_PROBLEM_CODES: Final = {
    FeedProblem.NO_DOMAIN_ID: 204,
    FeedProblem.INVALID_ID: 102,
    FeedProblem.MERGED_ID: 204,
    FeedProblem.SAME_ID: 205,
    FeedProblem.INVALID_FIELD: 102,
}


@dataclass(frozen=True, slots=True)
class Header:
    """The MSH fields the ACK needs (empty strings when the message did not say)."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5"
    event: str = ""
    charset: str = ""


class Hl7Problem(Exception):
    """A message not applied: the ACK code, the table 0357 code, the reason and where."""

    def __init__(
        self, ack: AckCode, code: int, message: str, location: str = "", header: Header | None = None
    ):
        super().__init__(message)
        self.ack: AckCode = ack
        self.code = code
        self.message = message
        self.location = location
        self.header = header or Header()

    @classmethod
    def refused(cls, refusal: FeedRefused, header: Header) -> Hl7Problem:
        return cls("AE", _PROBLEM_CODES[refusal.problem], refusal.message, refusal.location, header)


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """What a message asks: create/update ``patient``, or (``subsumed_id``) merge that id into it."""

    header: Header
    patient: FedPatient
    subsumed_id: str | None = None


# ----------------------------------------------------------------------------------------------- decoding

_CHARSETS: Final = {
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "8859/1": "iso-8859-1",
    "8859/15": "iso-8859-15",
    "ASCII": "ascii",
}


def decode(raw: bytes) -> tuple[str, str]:
    """The message text and the Python codec used (MSH-18, else UTF-8, else ISO 8859-1)."""
    first = raw.split(b"\r", 1)[0].split(b"\n", 1)[0].decode("iso-8859-1")
    declared = ""
    if first.startswith("MSH") and len(first) > 3:
        fields = first.split(first[3])
        declared = fields[17].strip().upper() if len(fields) > 17 else ""
    codec = _CHARSETS.get(declared)
    if codec is not None:
        try:
            return raw.decode(codec), codec
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1"), "iso-8859-1"


def header_of(text: str, codec: str = "utf-8") -> Header:
    """The MSH fields, read by hand: an ACK can be addressed even when the rest does not parse."""
    first = text.lstrip().split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 8:
        return Header(charset=codec)
    separator = first[3]
    component = first[4]
    fields = ["MSH", separator, *first[4:].split(separator)]  # fields[n] is MSH-n
    version = _field(fields, 12).split(component)[0]
    message_type = _field(fields, 9).split(component)
    return Header(
        sending_application=_field(fields, 3),
        sending_facility=_field(fields, 4),
        receiving_application=_field(fields, 5),
        receiving_facility=_field(fields, 6),
        control_id=_field(fields, 10),
        processing_id=_field(fields, 11).split(component)[0] or "P",
        version=version or "2.5",
        event=message_type[1] if len(message_type) > 1 else "",
        charset=codec,
    )


def _field(fields: list[str], n: int) -> str:
    return fields[n] if len(fields) > n else ""


_SEGMENT_RE: Final = re.compile(r"^[A-Z][A-Z0-9]{2}(\|.*)?$", re.DOTALL)
_READ_SEGMENTS: Final = frozenset({"MSH", "EVN", "PID", "MRG"})
_ESCAPES: Final = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\"}
_ESCAPE_RE: Final = re.compile(r"\\([FSTRE])\\")


def unescape(value: str) -> str:
    """HL7 escape sequences of the default delimiters back to text (others, e.g. \\H\\, are dropped)."""
    value = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(1)], value)
    return re.sub(r"\\[HN.XZC][^\\]*\\", "", value)


def escape(value: str) -> str:
    """Text for an ACK field (default delimiters); CR and LF become spaces so a reason stays in its field."""
    out = value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    out = out.replace("&", "\\T\\").replace("~", "\\R\\")
    return out.replace("\r", " ").replace("\n", " ")


# ----------------------------------------------------------------------------------------------- parsing


def parse_feed(raw: bytes, profile: DomainProfile) -> FeedRequest:
    """The feed request in ``raw`` (one MLLP frame's content); raise Hl7Problem when it is not applied."""
    text, codec = decode(raw)
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r \t\x00")
    header = header_of(text, codec)
    if not text.startswith("MSH"):
        raise Hl7Problem(
            "AR", 100, "not an HL7 v2 message: it does not start with an MSH segment", "MSH", header
        )
    if text[3:8] != "|^~\\&":
        raise Hl7Problem(
            "AR",
            102,
            "only the default delimiters are supported (MSH-1 '|', MSH-2 '^~\\&')",
            "MSH^1^2",
            header,
        )
    if header.version not in SUPPORTED_VERSIONS:
        shown = header.version or "none"
        raise Hl7Problem(
            "AR",
            203,
            f"HL7 version {shown} is not supported (2.3, 2.3.1, 2.4, 2.5, 2.5.1)",
            "MSH^1^12",
            header,
        )
    segments = text.split("\r")
    for number, segment in enumerate(segments, start=1):
        if not _SEGMENT_RE.match(segment):
            reason = f"segment {number} is not an HL7 segment: {segment[:20]!r}"
            raise Hl7Problem("AR", 100, reason, "", header)
    # hl7apy parses only the segments the feed reads: the others (PV1, NTE, Z segments ...) may be large and
    # cost parsing time for nothing
    read = "\r".join(s for s in segments if s[:3] in _READ_SEGMENTS)
    try:
        message = parse_message(read, find_groups=False)
    except (hl7_errors.HL7apyException, ValueError, KeyError, IndexError) as error:
        raise Hl7Problem("AR", 100, f"the message does not parse as HL7 v2: {error}", "", header) from None
    kind = _component(_first(message, "MSH"), 9, 1)
    event = _component(_first(message, "MSH"), 9, 2) or _component(_first(message, "EVN"), 1, 1)
    header = Header(**{**_header_dict(header), "event": event})
    if kind != "ADT":
        raise Hl7Problem(
            "AR", 200, f"message type {kind or 'none'} is not supported (ADT only)", "MSH^1^9", header
        )
    if event not in UPDATE_EVENTS and event != MERGE_EVENT:
        raise Hl7Problem(
            "AR",
            201,
            f"event {event or 'none'} is not supported (A01, A04, A05, A08 create or update; A40 merge)",
            "MSH^1^9",
            header,
        )
    counts = {name: sum(1 for c in message.children if c.name == name) for name in ("PID", "MRG")}
    if counts["PID"] > 1 or counts["MRG"] > 1:
        # ADT_A39 may repeat its patient group; one merge per message keeps each ACK about one change
        raise Hl7Problem("AE", 100, "one PID (and one MRG) per message: send each merge alone", "PID", header)
    pid = _first(message, "PID")
    if pid is None:
        raise Hl7Problem("AE", 100, "no PID segment", "PID", header)
    identifiers = _identifiers(pid, "pid_3")
    if not identifiers:
        raise Hl7Problem("AE", 101, "PID-3 (patient identifier list) is empty", "PID^1^3", header)
    try:
        position, patient_id = pick_patient_id([d for d, _ in identifiers], profile, "PID-3")
        references = tuple(dict.fromkeys(sent for i, (_, sent) in enumerate(identifiers) if i != position))
        patient = FedPatient(patient_id, references, _demographics(pid))
    except FeedRefused as refusal:
        raise Hl7Problem.refused(refusal, header) from None
    except Hl7Problem as problem:
        raise Hl7Problem(problem.ack, problem.code, problem.message, problem.location, header) from None
    if event != MERGE_EVENT:
        return FeedRequest(header, patient)
    mrg = _first(message, "MRG")
    if mrg is None:
        raise Hl7Problem("AE", 100, "A40 without an MRG segment", "MRG", header)
    old = _identifiers(mrg, "mrg_1")
    if not old:
        raise Hl7Problem("AE", 101, "MRG-1 (prior patient identifier list) is empty", "MRG^1^1", header)
    try:
        _, subsumed_id = pick_patient_id([d for d, _ in old], profile, "MRG-1")
    except FeedRefused as refusal:
        raise Hl7Problem.refused(refusal, header) from None
    return FeedRequest(header, patient, subsumed_id)


def _header_dict(header: Header) -> dict[str, str]:
    return {name: getattr(header, name) for name in Header.__dataclass_fields__}


def _first(message: Message, name: str) -> Segment | None:
    for child in message.children:
        if child.name == name:
            return child
    return None


def _raw_field(segment: Segment | None, n: int) -> str:
    """The ER7 text of field ``n`` (all repetitions)."""
    if segment is None:
        return ""
    er7 = segment.to_er7()
    separator = "|"
    parts = er7.split(separator)
    if segment.name == "MSH":
        parts = ["MSH", separator, *parts[1:]]
    return parts[n] if len(parts) > n else ""


def _component(segment: Segment | None, n: int, c: int) -> str:
    first = _raw_field(segment, n).split("~")[0]
    components = first.split("^")
    return unescape(components[c - 1]).strip() if len(components) >= c else ""


def _identifiers(segment: Segment, attribute: str) -> list[tuple[str, str]]:
    """Each repetition of a CX list field as (domain form ``id^^^&OID&ISO``, or "" when it has no ISO
    authority; the repetition as sent)."""
    found: list[tuple[str, str]] = []
    for repetition in _raw_field(segment, int(attribute.rsplit("_", 1)[1])).split("~"):
        if not repetition.strip():
            continue
        components = repetition.split("^")
        ident = unescape(components[0]).strip()
        authority = components[3].split("&") if len(components) > 3 else []
        if ident and len(authority) == 3 and authority[2].strip().upper() == "ISO" and authority[1].strip():
            found.append((f"{ident}^^^&{authority[1].strip()}&ISO", repetition))
        else:
            found.append(("", repetition))
    return found


def _demographics(pid: Segment) -> Demographics:
    name = _raw_field(pid, 5).split("~")[0].split("^")
    family = unescape(name[0].split("&")[0]).strip() if name and name[0] != '""' else ""
    given = tuple(unescape(n).strip() for n in name[1:3] if n.strip() and n != '""')
    return Demographics(
        family=family or None,
        given=given,
        birth_date=_birth_date(_raw_field(pid, 7).split("^")[0].strip()),
        sex=_sex(_raw_field(pid, 8).split("^")[0].strip()),
    )


def _birth_date(value: str) -> date | None:
    if not value or value == '""':
        return None
    digits = value[:8]
    if not digits.isdigit():
        raise Hl7Problem("AE", 102, f"PID-7 {value!r} is not a date (YYYYMMDD)", "PID^1^7")
    if len(digits) < 8:
        return None  # a year or a month alone: not a birth date the rules can use
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise Hl7Problem("AE", 102, f"PID-7 {value!r} is not a valid date", "PID^1^7") from None


def _sex(value: str) -> Sex | None:
    if not value or value == '""':
        return None
    try:
        return Sex(value.upper())
    except ValueError:
        raise Hl7Problem(
            "AE", 103, f"PID-8 {value!r} is not in HL7 table 0001 (F, M, O, U, A, N)", "PID^1^8"
        ) from None


# ----------------------------------------------------------------------------------------------- the ACK


def ack(header: Header, code: AckCode, problem: Hl7Problem | None = None, *, control_id: str = "") -> str:
    """The ACK message (segments joined by CR, no MLLP framing) answering ``header``."""
    version = header.version if header.version in SUPPORTED_VERSIONS else "2.5"
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    event = header.event if re.fullmatch(r"[A-Z0-9]{3}", header.event or "") else ""
    message_type = f"ACK^{event}^ACK" if version.startswith("2.5") else (f"ACK^{event}" if event else "ACK")
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            header.receiving_application,
            header.receiving_facility,
            header.sending_application,
            header.sending_facility,
            now,
            "",
            message_type,
            control_id or f"ACK{now}",
            header.processing_id or "P",
            version,
        ]
    )
    text = escape(problem.message) if problem else ""
    msa = "|".join(["MSA", code, header.control_id, text][: 4 if text else 3])
    segments = [msh, msa]
    if problem is not None:
        segments.append(_err(version, problem))
    return "\r".join(segments) + "\r"


def _err(version: str, problem: Hl7Problem) -> str:
    label = ERROR_TEXT.get(problem.code, "Application error")
    location = problem.location if re.fullmatch(r"[A-Z][A-Z0-9]{2}(\^\d+\^\d+)?", problem.location) else ""
    if version.startswith("2.5"):
        # ERR-2 location (ERL), ERR-3 HL7 error code (CWE), ERR-4 severity, ERR-8 user message
        fields = [
            "ERR",
            "",
            location,
            f"{problem.code}^{label}^HL70357",
            "E",
            "",
            "",
            "",
            escape(problem.message),
        ]
        return "|".join(fields)
    # 2.3 - 2.4: ERR-1 ELD = segment ^ sequence ^ field ^ code (CE, subcomponents)
    segment, _, rest = location.partition("^")
    sequence, _, field_no = rest.partition("^")
    return f"ERR|{segment}^{sequence}^{field_no}^{problem.code}&{label}&HL70357"


__all__ = [
    "FIELDS",
    "MERGE_EVENT",
    "SUPPORTED_VERSIONS",
    "UPDATE_EVENTS",
    "AckCode",
    "FeedRequest",
    "Header",
    "Hl7Problem",
    "ack",
    "decode",
    "escape",
    "header_of",
    "parse_feed",
    "unescape",
]
