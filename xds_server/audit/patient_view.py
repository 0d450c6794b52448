"""The trail as the patient sees it: which traces, and in what words (the yearly statement, the patient's
AuditEvent search).

The patient sees what professionals did on his record and succeeded in doing: consultations, emergency
accesses (flagged with their mode and the reason given), new documents, masking and other changes,
removals. He does not see the traces of a document hidden from him (INVISIBLE_PATIENT on its current
version, set by a professional until an announcement consultation) until the mask is lifted: ``hidden``
is the set of such documents' ids, computed by the caller from the registry at the time of reading.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from xds_server.audit.fhir import ACCESS_MODE_SYSTEM

__all__ = [
    "TrailLine",
    "for_patient",
    "messages_sentence",
    "render_pdf",
    "render_text",
    "trail_line",
    "visible_to_patient",
]

_WHAT: Final[Mapping[str, str]] = {
    "ITI-18": "a consulté la liste de vos documents",
    "ITI-51": "a consulté la liste de vos documents",
    "ITI-66": "a consulté la liste de vos documents",
    "ITI-67": "a consulté la liste de vos documents",
    "ITI-43": "a consulté un document",
    "ITI-68": "a consulté un document",
    "ITI-41": "a ajouté un document",
    "ITI-42": "a ajouté un document",
    "ITI-65": "a ajouté un document",
    "ITI-57": "a modifié un document (masquage ou informations)",
    "ITI-62": "a supprimé un document",
}


@dataclass(frozen=True, slots=True)
class TrailLine:
    recorded: str
    transaction: str
    what: str
    professional: str
    name: str
    structure: str
    emergency_mode: str | None
    reason: str | None
    documents: tuple[str, ...]


def _subtype(resource: Mapping[str, Any]) -> str:
    codes = [s.get("code", "") for s in resource.get("subtype", [])]
    return next((c for c in reversed(codes) if c.startswith("ITI-") or c == "PATIENT-API"), "")


def _user(resource: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((a for a in resource.get("agent", []) if a.get("requestor")), None)


def _actor_kind(user: Mapping[str, Any]) -> str:
    for role in user.get("role", []):
        for coding in role.get("coding", []):
            if coding.get("system") == "urn:xds-server:actor-kind":
                return str(coding.get("code", ""))
    return ""


def _documents(resource: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        e["what"]["identifier"]["value"]
        for e in resource.get("entity", [])
        if e.get("role", {}).get("code") == "3" and "what" in e
    )


def visible_to_patient(resource: Mapping[str, Any], hidden: Collection[str]) -> bool:
    """Whether the patient sees this trace of his record (see the module docstring)."""
    if resource.get("outcome") != "0":
        return False
    user = _user(resource)
    if user is None or _actor_kind(user) != "professional":
        return False
    return not any(doc in hidden for doc in _documents(resource))


def trail_line(resource: Mapping[str, Any]) -> TrailLine:
    user = _user(resource) or {}
    structure = next(
        (
            a["who"]["identifier"]["value"]
            for a in resource.get("agent", [])
            if a.get("type", {}).get("coding", [{}])[0].get("code") == "PROV"
        ),
        "",
    )
    purpose = (user.get("purposeOfUse") or [{}])[0]
    mode = next((c["code"] for c in purpose.get("coding", []) if c.get("system") == ACCESS_MODE_SYSTEM), None)
    transaction = _subtype(resource)
    return TrailLine(
        recorded=str(resource.get("recorded", "")),
        transaction=transaction,
        what=_WHAT.get(transaction, "a accédé à votre dossier"),
        professional=str(user.get("who", {}).get("identifier", {}).get("value", "")),
        name=str(user.get("name", "")),
        structure=structure,
        emergency_mode=mode,
        reason=purpose.get("text") if mode else None,
        documents=_documents(resource),
    )


def _sentence(line: TrailLine) -> str:
    who = f"{line.name or 'Un professionnel'} ({line.professional}"
    who += f", structure {line.structure})" if line.structure else ")"
    text = f"{line.recorded[:19].replace('T', ' ')}  {who} {line.what}"
    if line.emergency_mode:
        text += f" EN URGENCE ({line.emergency_mode}), motif : {line.reason or '-'}"
    if line.documents:
        text += f" [{', '.join(line.documents)}]"
    return text


def render_text(lines: Iterable[TrailLine]) -> list[str]:
    return [_sentence(line) for line in lines]


def messages_sentence(count: int, year: int) -> str:
    """The statement's line for a patient with no e-mail address: the messages his mailbox received."""
    return f"{count} message(s) reçu(s) dans votre messagerie sécurisée Mon espace santé en {year}."


def render_pdf(
    lines: Sequence[TrailLine], patient: str, year: int, path: Path, *, messages: int | None = None
) -> None:
    """The yearly statement as a PDF (reportlab: a title, then one paragraph per trace; the count of
    mailbox messages when given)."""
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    story: list[Any] = [
        Paragraph(
            escape(f"Relevé annuel des accès à votre dossier médical partagé — {year}"), styles["Title"]
        ),
        Paragraph(escape(f"Patient : {patient}"), styles["Normal"]),
        Spacer(1, 12),
    ]
    if not lines:
        story.append(Paragraph("Aucun accès d'un professionnel cette année.", styles["Normal"]))
    for line in lines:
        story.append(Paragraph(escape(_sentence(line)), styles["Normal"]))
        story.append(Spacer(1, 4))
    if messages is not None:
        story.append(Spacer(1, 12))
        story.append(Paragraph(escape(messages_sentence(messages, year)), styles["Normal"]))
    document = SimpleDocTemplate(str(path), pagesize=A4, title=f"Relevé DMP {year}", author="xds-server")
    document.build(story)


#: Entities a patient is not shown: the raw query, the credential's id, the transport's request id.
_TECHNICAL_ROLES: Final = frozenset({"24", "13"})


def for_patient(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The AuditEvent as shown to the patient: who, when, how (mode, reason), what (patient, documents,
    submission set); without the technical entities (raw query, credential id, request id) and addresses."""
    shown = dict(resource)
    shown["agent"] = [
        {k: v for k, v in agent.items() if k != "network"} for agent in resource.get("agent", [])
    ]
    entities = [
        e
        for e in resource.get("entity", [])
        if e.get("role", {}).get("code") not in _TECHNICAL_ROLES
        and e.get("type", {}).get("code") != "XrequestId"
    ]
    if entities:
        shown["entity"] = entities
    else:
        shown.pop("entity", None)
    return shown
