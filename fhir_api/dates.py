"""FHIR date search values (``[prefix]date``) as the query engine's half-open ranges of 14-digit UTC DTMs.

A FHIR date value of some precision denotes an interval: ``2024`` is [2024-01-01, 2025-01-01),
``2024-03-05T10:00:00+01:00`` one second (FHIR R4 §3.1.1.5.7 "implicit precision"). The prefixes then bound
the stored time (the engine's ``TimeRange`` is ``low <= value < high``, on the DTMs as the registry
normalises them):

=====  ==================  =====================================================
eq     [start, end)        the stored time falls in the value's interval
ge/sa  low = start / end   at or after the start (``sa``: after the whole interval)
gt     low = end           after the interval
le     high = end          up to the end of the interval
lt/eb  high = start        before the interval
=====  ==================  =====================================================

``ne`` and ``ap`` have no single range: they are refused (400), never silently widened. Several values of
one parameter (repeated = AND) intersect their ranges.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fhir_api.outcome import FhirError
from xds_server.core.query import TimeRange

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def _dtm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def interval(value: str) -> tuple[str, str]:
    """The [start, end) DTMs a FHIR date / dateTime / instant denotes (ValueError if it is none)."""
    text = value.strip()
    if "T" not in text:
        parts = text.split("-")
        if not all(p.isdigit() for p in parts) or len(parts) > 3 or len(parts[0]) != 4:
            raise ValueError(value)
        year = int(parts[0])
        if len(parts) == 1:
            start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        elif len(parts) == 2:
            month = int(parts[1])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        else:
            start = datetime(year, int(parts[1]), int(parts[2]), tzinfo=UTC)
            end = start + timedelta(days=1)
        return _dtm(start), _dtm(end)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # FHIR wants a zone with a time; XDS times are UTC
    if parsed.microsecond:
        parsed = parsed.replace(microsecond=0)  # DTMs keep whole seconds
    step = timedelta(seconds=1) if text.count(":") >= 2 else timedelta(minutes=1)
    return _dtm(parsed), _dtm(parsed + step)


def split_prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and not value[:2].isdigit():
        return value[:2], value[2:]
    return "eq", value


def date_range(name: str, values: list[str]) -> TimeRange:
    """The range all these values of ``name`` allow together (AND); FhirError 400 for a bad value."""
    low: str | None = None
    high: str | None = None
    for raw in values:
        prefix, text = split_prefix(raw.strip())
        if prefix in ("ne", "ap"):
            raise FhirError.single(
                400, "not-supported", f"{name}: the prefix {prefix!r} is not supported (eq ge gt le lt sa eb)"
            )
        try:
            start, end = interval(text)
        except ValueError:
            raise FhirError.invalid(f"{name}: {raw!r} is not a FHIR date or dateTime") from None
        lows = {"eq": start, "ge": start, "gt": end, "sa": end}
        highs = {"eq": end, "le": end, "lt": start, "eb": start}
        if prefix in lows:
            low = lows[prefix] if low is None else max(low, lows[prefix])
        if prefix in highs:
            high = highs[prefix] if high is None else min(high, highs[prefix])
    return TimeRange(low, high)


def intersect(a: TimeRange, b: TimeRange) -> TimeRange:
    low = a.low if b.low is None else b.low if a.low is None else max(a.low, b.low)
    high = a.high if b.high is None else b.high if a.high is None else min(a.high, b.high)
    return TimeRange(low, high)


__all__ = ["PREFIXES", "date_range", "intersect", "interval", "split_prefix"]
