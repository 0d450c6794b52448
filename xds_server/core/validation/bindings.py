"""Affinity-domain value sets and the DMP confidentiality rule (dmp-rules.md §(c)).

Every coded attribute the profile binds must carry a (code, codingScheme) pair of its value set; a code
outside it is an XDSRegistryMetadataError naming the attribute, the code and the value set. Attributes the
profile does not bind are free (IHE profile: all of them).
"""

from __future__ import annotations

from collections.abc import Iterator

from xds_server.core.errors import Issue
from xds_server.core.metadata import Code
from xds_server.core.profile import BoundAttribute, ConfidentialityRule, DomainProfile
from xds_server.core.validation.context import Context, metadata_error


def check(ctx: Context) -> Iterator[Issue]:
    profile = ctx.profile
    for de in ctx.submission.documents:
        i = de.entry_uuid
        yield from _bound(profile, i, BoundAttribute.CLASS_CODE, (de.class_code,))
        yield from _bound(profile, i, BoundAttribute.TYPE_CODE, (de.type_code,))
        yield from _bound(profile, i, BoundAttribute.FORMAT_CODE, (de.format_code,))
        yield from _bound(
            profile, i, BoundAttribute.HEALTHCARE_FACILITY_TYPE_CODE, (de.healthcare_facility_type_code,)
        )
        yield from _bound(profile, i, BoundAttribute.PRACTICE_SETTING_CODE, (de.practice_setting_code,))
        yield from _bound(profile, i, BoundAttribute.EVENT_CODE_LIST, de.event_codes)
        yield from _bound(profile, i, BoundAttribute.CONFIDENTIALITY_CODE, de.confidentiality_codes)
        if profile.confidentiality is not None and de.confidentiality_codes:
            yield from _confidentiality(profile.confidentiality, i, de.confidentiality_codes)
    for ss in ctx.submission.submission_sets:
        yield from _bound(profile, ss.entry_uuid, BoundAttribute.CONTENT_TYPE_CODE, (ss.content_type_code,))
    for folder in ctx.submission.folders:
        yield from _bound(profile, folder.entry_uuid, BoundAttribute.FOLDER_CODE_LIST, folder.codes)


def _bound(
    profile: DomainProfile, object_id: str, attribute: BoundAttribute, values: tuple[Code | None, ...]
) -> Iterator[Issue]:
    binding = profile.binding(attribute)
    if binding is None:
        return
    for code in values:
        # Missing codes are reported by the object rules; only present ones are checked against the set.
        if code is not None and code.code and not binding.allows(code.code, code.scheme):
            yield metadata_error(
                object_id,
                attribute.value,
                f"{attribute.value} {code.code!r} (codingScheme {code.scheme}) is not in value set "
                f"{binding.value_set} of the {profile.name} profile",
            )


def _confidentiality(rule: ConfidentialityRule, object_id: str, codes: tuple[Code, ...]) -> Iterator[Issue]:
    attribute = BoundAttribute.CONFIDENTIALITY_CODE.value
    hl7 = [c for c in codes if c.scheme == rule.hl7_scheme]
    for code in codes:
        if code.scheme == rule.hl7_scheme and code.code not in rule.hl7_codes:
            yield metadata_error(
                object_id,
                attribute,
                f"confidentialityCode {code.code!r} is not an HL7 code N, R or V ({rule.hl7_scheme})",
            )
        elif code.scheme == rule.masking_scheme and code.code not in rule.masking_codes:
            yield metadata_error(
                object_id,
                attribute,
                f"confidentialityCode {code.code!r} is not a masking code of {rule.masking_scheme}",
            )
        elif code.scheme not in (rule.hl7_scheme, rule.masking_scheme):
            yield metadata_error(
                object_id,
                attribute,
                f"confidentialityCode {code.code!r} (codingScheme {code.scheme}) is neither an HL7 "
                f"confidentiality code ({rule.hl7_scheme}) nor a masking code ({rule.masking_scheme})",
            )
    if len(hl7) != 1:
        yield metadata_error(
            object_id,
            attribute,
            f"exactly one HL7 confidentialityCode (N, R or V of {rule.hl7_scheme}) is required, "
            f"found {len(hl7)}",
        )
