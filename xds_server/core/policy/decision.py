"""What a policy decision returns, and the messages a refused actor reads.

Messages help the professional act (declare consent, give a reason, ask for a new assertion) and never
reveal a hidden document or which setting of the patient caused a refusal beyond what the professional
needs to act. Record absence, opposition and closure share one message so none can be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.policy.context import PolicyMode


class AccessBasis(StrEnum):
    """Why a read of the record was allowed (audit and notification read it: emergency accesses notify)."""

    IHE_PROFILE = "ihe_profile"
    PATIENT = "patient"
    LEGAL_REPRESENTATIVE = "legal_representative"
    AUTHORISED = "authorised"
    MEDECIN_TRAITANT = "medecin_traitant"
    ADMINISTRATOR = "administrator"
    REGULATION = "regulation"
    BREAK_GLASS = "break_glass"

    @property
    def is_emergency(self) -> bool:
        return self in (AccessBasis.REGULATION, AccessBasis.BREAK_GLASS)


RECORD_NOT_FOUND: Final = "DMP closed or does not exist"
WRONG_PATIENT: Final = (
    "The patient named by your credential (resource-id) is not the patient of this request: "
    "request a new assertion for this patient"
)
SYSTEM_ACTOR: Final = (
    "A technical actor has no access to a DMP: authenticate as a professional, the patient or a legal "
    "representative"
)
NOT_OWN_RECORD: Final = "A patient may only access his own DMP"
NOT_REPRESENTATIVE: Final = "You are not registered as a legal representative of this patient"
BLOCKED: Final = "Access to this DMP is not available to you; the patient can tell you more"
NO_BASIS: Final = (
    "No access basis for this DMP: declare the patient's consent; in an emergency, use break-glass mode "
    "with a reason, or regulation mode"
)
BREAK_GLASS_NO_REASON: Final = "Break-glass access requires a reason (Mode_Acces_Raison)"
EMERGENCY_REFUSED: Final = "Access refused in this mode: declare the patient's consent to consult this DMP"
DOCUMENT_HIDDEN: Final = "Document not found"
TYPE_NOT_ALLOWED: Final = (
    "Your profession may not deposit documents of type {type}: the habilitation matrix does not allow it"
)
PATIENT_CLASS_ONLY: Final = "A patient may only deposit documents of class 90 (documents from the patient)"
PATIENT_EXISTING: Final = (
    "A patient or representative cannot change existing documents through this transaction"
)
MASKING_CONFLICT: Final = (
    "MASQUE_PS and INVISIBLE_PATIENT cannot be combined on one document: keep one of them"
)
SECRET_CONNECTION: Final = (
    "In a minor's secret connection, documents must carry INVISIBLE_REPRESENTANTS_LEGAUX "
    "(confidentialityCode, 1.2.250.1.213.1.1.4.13)"
)
NOT_AUTHOR: Final = "Only the author of the document or a professional of the author's structure may {op} it"
MASKING_NOT_ALLOWED: Final = (
    "Only the author of the document, the author's structure or the patient's administrator doctors may "
    "change its masking"
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of one rule evaluation.

    ``code`` is None when allowed. ``trace`` lists each rule evaluated, in order, for the access trace and
    ``policy explain`` (it names settings: it is for support staff and the audit record, never for the
    caller). ``conceal``: the caller must answer exactly as it answers for an object that does not exist
    (a hidden document is absent, never an error); ``code`` is then only a default.
    """

    allowed: bool
    code: ErrorCode | None
    reason: str
    trace: tuple[str, ...]
    basis: AccessBasis | None = None
    profile: PolicyMode = PolicyMode.DMP
    conceal: bool = False

    def issue(self, location: str = "") -> Issue:
        """The RegistryError of a refusal (never call on an allowed decision)."""
        if self.allowed or self.code is None:
            raise ValueError("an allowed decision has no issue")
        return Issue(self.code, self.reason, location)

    def raise_if_denied(self, location: str = "") -> None:
        if not self.allowed:
            raise XdsError([self.issue(location)])


__all__ = [
    "BLOCKED",
    "BREAK_GLASS_NO_REASON",
    "DOCUMENT_HIDDEN",
    "EMERGENCY_REFUSED",
    "MASKING_CONFLICT",
    "MASKING_NOT_ALLOWED",
    "NOT_AUTHOR",
    "NOT_OWN_RECORD",
    "NOT_REPRESENTATIVE",
    "NO_BASIS",
    "PATIENT_CLASS_ONLY",
    "PATIENT_EXISTING",
    "RECORD_NOT_FOUND",
    "SECRET_CONNECTION",
    "SYSTEM_ACTOR",
    "TYPE_NOT_ALLOWED",
    "WRONG_PATIENT",
    "AccessBasis",
    "Decision",
]
