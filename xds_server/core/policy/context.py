"""Who is asking, and how: the access context every decision reads.

The identity adapters (``identity.saml`` for SOAP, ``identity.jwt`` for FHIR) build one ``AccessContext`` per
request from a verified assertion or token; nothing else creates one in production. The policy never looks at
the transport: a context carries facts (codes and identifiers as the assertion gave them), not credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ActorKind(StrEnum):
    """Who acts: a health professional (VIHF / PSC), the patient himself, a legal representative acting for
    a patient (a minor's parent, a protected adult's guardian), or a technical system (the ``ihe`` profile's
    anonymous actor, batch jobs)."""

    PROFESSIONAL = "professional"
    PATIENT = "patient"
    LEGAL_REPRESENTATIVE = "legal_representative"
    SYSTEM = "system"


class AccessMode(StrEnum):
    """The VIHF purposeofuse: normal care, break-glass (bris de glace, needs a reason) or emergency
    regulation (SAMU / centre 15)."""

    NORMAL = "normal"
    BREAK_GLASS = "break_glass"
    REGULATION = "regulation"

    @property
    def is_emergency(self) -> bool:
        return self is not AccessMode.NORMAL


class PolicyMode(StrEnum):
    """Which rule book decides: the French DMP rules, or the IHE conformance profile in which any
    authenticated actor has full access (so IHE test suites run unchanged)."""

    DMP = "dmp"
    IHE = "ihe"


@dataclass(frozen=True, slots=True)
class AccessContext:
    """The facts about one request's actor.

    ``national_id`` is the IDNPS for a professional (the VIHF Subject NameID, ``8`` + RPPS ...), the
    patient's INS for a patient, the representative's own identifier for a legal representative.
    ``patient_ins`` is the patient the request is about as the credential names it (VIHF resource-id, CX
    form; the patient's own INS in a patient token). ``represented`` lists the patients a legal
    representative's token says he acts for. ``secret_connection`` is a minor's secret connection (VIHF
    confidentiality-code attribute): documents deposited in it must be invisible to the representatives.
    """

    actor_kind: ActorKind
    national_id: str
    profession: str | None = None  # TRE_G15
    savoir_faire: str | None = None  # TRE_R38 / TRE_A02 (médecins, pharmaciens)
    role: str | None = None  # TRE_R85 (professionals characterised by a role: 316, 317 ...)
    genre_activite: str | None = None  # TRE_R22 (GENR01..GENR12)
    structure_id: str | None = None  # Identifiant_Structure
    secteur: str | None = None  # TRE_R02 SAxx
    access_mode: AccessMode = AccessMode.NORMAL
    reason: str | None = None  # Mode_Acces_Raison
    patient_ins: str | None = None
    represented: frozenset[str] = field(default_factory=frozenset)
    secret_connection: bool = False
    name: str | None = None  # subject-id
    authentication_mode: str | None = None  # Authentification_Mode
    lps_name: str | None = None
    lps_version: str | None = None
    issuer: str | None = None  # who vouched for the actor (assertion Issuer, token iss)
    credential_id: str | None = None  # the assertion's ID / the token's jti (traced; never the credential)

    @property
    def has_reason(self) -> bool:
        return bool(self.reason and self.reason.strip())


__all__ = ["AccessContext", "AccessMode", "ActorKind", "PolicyMode"]
