"""Affinity-domain profiles: what a domain adds to the IHE rules, as data.

A ``DomainProfile`` is built by the terminology adapter (``xds_server.terminology``) from
``profiles/<name>.toml`` and the value-set CSVs of ``terminologies/``; the core only reads it. Two profiles
ship: ``ihe`` (Connectathon/NIST: any assigning authority, no value-set bindings) and ``dmp`` (French DMP:
INS patient ids, CI-SIS / DMP value sets, HL7 + masking confidentiality rule; dmp-rules.md §(c), §(d)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final


class BoundAttribute(StrEnum):
    """Coded metadata attributes a profile may bind to a value set (names as in ITI TF-3 4.2.3)."""

    CLASS_CODE = "classCode"
    TYPE_CODE = "typeCode"
    FORMAT_CODE = "formatCode"
    HEALTHCARE_FACILITY_TYPE_CODE = "healthcareFacilityTypeCode"
    PRACTICE_SETTING_CODE = "practiceSettingCode"
    EVENT_CODE_LIST = "eventCodeList"
    CONFIDENTIALITY_CODE = "confidentialityCode"
    CONTENT_TYPE_CODE = "contentTypeCode"
    FOLDER_CODE_LIST = "codeList"


@dataclass(frozen=True, slots=True)
class ValueSetBinding:
    """``attribute`` must carry a (code, codingScheme) pair of ``codes`` (value set ``value_set``)."""

    attribute: BoundAttribute
    value_set: str
    codes: frozenset[tuple[str, str]]

    def allows(self, code: str, scheme: str) -> bool:
        return (code, scheme) in self.codes


HL7_CONFIDENTIALITY_CODES: Final = frozenset({"N", "R", "V"})


@dataclass(frozen=True, slots=True)
class ConfidentialityRule:
    """DMP rule (dmp-rules.md §(c)): exactly one HL7 code (N/R/V of 2.16.840.1.113883.5.25) plus zero or
    more masking codes of TRE_A07 (1.2.250.1.213.1.1.4.13); no other confidentiality code."""

    hl7_scheme: str
    hl7_codes: frozenset[str]
    masking_scheme: str
    masking_codes: frozenset[str]


@dataclass(frozen=True, slots=True)
class DomainProfile:
    name: str
    #: Accepted patient-id assigning authorities; None = any authority (IHE Connectathon style).
    patient_id_authorities: frozenset[str] | None = None
    #: Test authorities (INS-NIR de test ...): accepted only when ``accept_test_authorities``.
    test_authorities: frozenset[str] = frozenset()
    accept_test_authorities: bool = False
    #: Patient ids must be INS (NIR + key), canonicalised by ``identifiers.canonical_patient_id``.
    ins_patient_ids: bool = False
    #: Authority given to a bare INS, and the CX.5 type code of the canonical form (``NH``).
    default_patient_authority: str | None = None
    patient_id_type: str | None = None
    #: Patient Identity Feed: the assigning authorities whose identifier becomes the registry's patient id,
    #: most preferred first (dmp: INS-NIR before the temporary NIA); None = any accepted authority, the first
    #: in the message. Identifiers of other authorities are kept as cross-references.
    feed_authorities: tuple[str, ...] | None = None
    #: DocumentEntry.sourcePatientId must denote the same patient as patientId (DMP: both are the INS).
    source_patient_id_is_patient_id: bool = False
    bindings: tuple[ValueSetBinding, ...] = ()
    confidentiality: ConfidentialityRule | None = None
    description: str = ""
    #: The rule book the profile's requests are judged by (``core.policy.PolicyMode`` value: ``dmp`` or
    #: ``ihe``), stated by the profile file (``policy = "dmp"``), never guessed from the profile's name.
    policy: str = "ihe"
    _by_attribute: dict[BoundAttribute, ValueSetBinding] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        # A private lookup table; the dataclass stays frozen (object.__setattr__ is the documented way).
        object.__setattr__(self, "_by_attribute", {b.attribute: b for b in self.bindings})

    def binding(self, attribute: BoundAttribute) -> ValueSetBinding | None:
        return self._by_attribute.get(attribute)

    @property
    def production(self) -> bool:
        """A production domain: it names test patient authorities only to refuse them (``dmp``). Such a
        server never trusts the local test authority either."""
        return bool(self.test_authorities) and not self.accept_test_authorities

    def accepts_authority(self, authority: str) -> bool:
        if authority in self.test_authorities:
            return self.accept_test_authorities
        return self.patient_id_authorities is None or authority in self.patient_id_authorities


#: The profile used when no domain rule applies (tests, plain IHE).
IHE_DEFAULT: Final = DomainProfile(name="ihe", description="IHE XDS.b rules only")

__all__ = [
    "HL7_CONFIDENTIALITY_CODES",
    "IHE_DEFAULT",
    "BoundAttribute",
    "ConfidentialityRule",
    "DomainProfile",
    "ValueSetBinding",
]
