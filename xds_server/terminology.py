"""Terminology adapter: affinity-domain profiles (profiles/*.toml) + value sets (terminologies/*.csv) ->
``core.profile.DomainProfile``.

Files are found through ``xds_server.resources`` (installed package data), never relative to the working
directory. ``load_profile`` caches per process: the composition root loads the configured profile once at
start (so a broken profile stops the server before it serves), every later call is a dictionary lookup.
Unknown keys in a profile are errors: a typo must not silently turn a rule off.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib.resources.abc import Traversable
from typing import Any

from xds_server.core.policy import PolicyMode
from xds_server.core.profile import (
    BoundAttribute,
    ConfidentialityRule,
    DomainProfile,
    ValueSetBinding,
)
from xds_server.resources import profiles_dir, terminologies_dir

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TOP_KEYS = frozenset(
    {"name", "description", "extends", "policy", "patient_id", "value_sets", "confidentiality"}
)
_PATIENT_KEYS = frozenset(
    {
        "authorities",
        "test_authorities",
        "accept_test_authorities",
        "ins",
        "default_authority",
        "type_code",
        "source_patient_id_is_patient_id",
        "feed_authorities",
    }
)
_CONFIDENTIALITY_KEYS = frozenset({"rule", "hl7_scheme", "hl7_codes", "masking_scheme", "masking_value_set"})


#: The rule books a profile may name (``core.policy.PolicyMode`` values).
_POLICIES = frozenset(mode.value for mode in PolicyMode)

ValueSetReader = Callable[[str], frozenset[tuple[str, str]]]


class ProfileError(ValueError):
    """A profile or value-set file that cannot be used."""


def profile_names() -> list[str]:
    """Names of the profiles shipped in profiles/."""
    return sorted(
        entry.name.removesuffix(".toml") for entry in profiles_dir().iterdir() if entry.name.endswith(".toml")
    )


@cache
def load_profile(name: str) -> DomainProfile:
    """The profile ``name`` (profiles/<name>.toml with its value sets), loaded once per process."""
    return build_profile(_raw_profile(name, ()), load_value_set)


@cache
def load_value_set(file_name: str) -> frozenset[tuple[str, str]]:
    """(code, system_oid) pairs of terminologies/<file_name>."""
    return read_value_set(terminologies_dir(), file_name)


@cache
def load_displays(file_name: str) -> dict[str, str]:
    """code -> display name of terminologies/<file_name> (what a page shows for a code)."""
    if "/" in file_name or "\\" in file_name or not file_name.endswith(".csv"):
        raise ProfileError(f"value set {file_name!r}: expected a CSV file name of terminologies/")
    entry = terminologies_dir() / file_name
    if not entry.is_file():
        raise ProfileError(f"value set {file_name!r} not found in terminologies/")
    rows = csv.DictReader(io.StringIO(entry.read_text(encoding="utf-8")))
    return {row["code"].strip(): (row.get("display") or "").strip() for row in rows if row.get("code")}


def read_value_set(directory: Traversable, file_name: str) -> frozenset[tuple[str, str]]:
    if "/" in file_name or "\\" in file_name or not file_name.endswith(".csv"):
        raise ProfileError(f"value set {file_name!r}: expected a CSV file name of terminologies/")
    entry = directory / file_name
    if not entry.is_file():
        raise ProfileError(f"value set {file_name!r} not found in terminologies/")
    rows = csv.DictReader(io.StringIO(entry.read_text(encoding="utf-8")))
    if rows.fieldnames is None or not {"code", "system_oid"} <= set(rows.fieldnames):
        raise ProfileError(f"value set {file_name!r} needs the columns code and system_oid")
    codes = frozenset((row["code"].strip(), row["system_oid"].strip()) for row in rows if row["code"])
    if not codes:
        raise ProfileError(f"value set {file_name!r} is empty")
    return codes


def _raw_profile(name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    if not _NAME_RE.match(name):
        raise ProfileError(f"invalid profile name {name!r}")
    if name in seen:
        raise ProfileError(f"profile {name!r} extends itself ({' -> '.join((*seen, name))})")
    entry = profiles_dir() / f"{name}.toml"
    if not entry.is_file():
        raise ProfileError(f"unknown profile {name!r} (known: {', '.join(profile_names())})")
    try:
        raw = tomllib.loads(entry.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {name!r}: {exc}") from exc
    _only(raw, _TOP_KEYS, name)
    if raw.get("name") != name:
        raise ProfileError(f"profile file {name}.toml says name = {raw.get('name')!r}")
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    base = _raw_profile(str(base_name), (*seen, name))
    # Table by table: a child's [patient_id] overrides only the keys it lists.
    merged = dict(base)
    for key, value in raw.items():
        merged[key] = {**base[key], **value} if isinstance(value, dict) and key in base else value
    return merged


def build_profile(raw: Mapping[str, Any], value_set: ValueSetReader) -> DomainProfile:
    """A DomainProfile from a parsed profile table (the file's content after ``extends``); ``value_set``
    reads a value-set file name into (code, codingScheme) pairs."""
    name = str(raw.get("name", ""))
    _only(raw, _TOP_KEYS - {"extends"}, name)
    patient: Mapping[str, Any] = raw.get("patient_id", {})
    _only(patient, _PATIENT_KEYS, f"{name} [patient_id]")
    authorities = patient.get("authorities", "any")
    if authorities != "any" and not _is_str_list(authorities):
        raise ProfileError(f'profile {name!r}: patient_id.authorities must be "any" or a list of OIDs')
    ins = _bool(patient, "ins", False, name)
    policy = raw.get("policy")
    if policy not in _POLICIES:
        # required: a profile that forgot it must not fall back to the open IHE rule book
        raise ProfileError(f"profile {name!r}: policy must be one of {', '.join(sorted(_POLICIES))}")
    profile = DomainProfile(
        name=name,
        policy=policy,
        description=str(raw.get("description", "")),
        patient_id_authorities=None if authorities == "any" else frozenset(authorities),
        test_authorities=frozenset(_str_list(patient, "test_authorities", name)),
        accept_test_authorities=_bool(patient, "accept_test_authorities", False, name),
        ins_patient_ids=ins,
        default_patient_authority=_optional_str(patient, "default_authority", name),
        patient_id_type=_optional_str(patient, "type_code", name),
        source_patient_id_is_patient_id=_bool(patient, "source_patient_id_is_patient_id", False, name),
        feed_authorities=(
            tuple(_str_list(patient, "feed_authorities", name)) if "feed_authorities" in patient else None
        ),
        bindings=tuple(_bindings(raw.get("value_sets", {}), value_set, name)),
        confidentiality=_confidentiality(raw.get("confidentiality", {}), value_set, name),
    )
    if ins and (profile.default_patient_authority is None or profile.patient_id_type is None):
        raise ProfileError(f"profile {name!r}: ins = true needs default_authority and type_code")
    return profile


def _bindings(table: Mapping[str, Any], value_set: ValueSetReader, name: str) -> Iterable[ValueSetBinding]:
    known = {a.value: a for a in BoundAttribute}
    for attribute, files in table.items():
        if attribute not in known:
            raise ProfileError(f"profile {name!r}: no value-set binding for unknown attribute {attribute!r}")
        file_names = [files] if isinstance(files, str) else files
        if not _is_str_list(file_names) or not file_names:
            raise ProfileError(
                f"profile {name!r}: value_sets.{attribute} must be a file name or a list of them"
            )
        codes: frozenset[tuple[str, str]] = frozenset().union(*(value_set(f) for f in file_names))
        label = " + ".join(f.removesuffix(".csv") for f in file_names)
        yield ValueSetBinding(known[attribute], label, codes)


def _confidentiality(
    table: Mapping[str, Any], value_set: ValueSetReader, name: str
) -> ConfidentialityRule | None:
    _only(table, _CONFIDENTIALITY_KEYS, f"{name} [confidentiality]")
    if not _bool(table, "rule", False, name):
        return None
    masking_scheme = _required_str(table, "masking_scheme", name)
    masking_file = _required_str(table, "masking_value_set", name)
    masking = {code for code, scheme in value_set(masking_file) if scheme == masking_scheme}
    if not masking:
        raise ProfileError(f"profile {name!r}: {masking_file} has no code of {masking_scheme}")
    hl7_codes = _str_list(table, "hl7_codes", name)
    if not hl7_codes:
        raise ProfileError(f"profile {name!r}: confidentiality.hl7_codes is empty")
    return ConfidentialityRule(
        hl7_scheme=_required_str(table, "hl7_scheme", name),
        hl7_codes=frozenset(hl7_codes),
        masking_scheme=masking_scheme,
        masking_codes=frozenset(masking),
    )


def _only(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    if not isinstance(table, Mapping):
        raise ProfileError(f"profile {where}: expected a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ProfileError(f"profile {where}: unknown key(s) {', '.join(unknown)}")


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _str_list(table: Mapping[str, Any], key: str, name: str) -> list[str]:
    value = table.get(key, [])
    if not _is_str_list(value):
        raise ProfileError(f"profile {name!r}: {key} must be a list of strings")
    return list(value)


def _bool(table: Mapping[str, Any], key: str, default: bool, name: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ProfileError(f"profile {name!r}: {key} must be true or false")
    return value


def _optional_str(table: Mapping[str, Any], key: str, name: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ProfileError(f"profile {name!r}: {key} must be a string")
    return value


def _required_str(table: Mapping[str, Any], key: str, name: str) -> str:
    value = _optional_str(table, key, name)
    if not value:
        raise ProfileError(f"profile {name!r}: {key} is required")
    return value


__all__ = [
    "ProfileError",
    "build_profile",
    "load_displays",
    "load_profile",
    "load_value_set",
    "profile_names",
    "read_value_set",
]
