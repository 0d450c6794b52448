"""DTM (HL7 V2 date/time) normalisation for range comparisons."""

from __future__ import annotations


def normalise_dtm(value: str | None) -> str | None:
    """Right-pad a DTM (YYYY[MM[DD[hh[mm[ss]]]]]) to 14 digits so that string order is time order.

    Fractional seconds and time zones are dropped (XDS times are UTC, ITI TF-3 4.2.3.1.5). Returns None for
    a value that is not a DTM; such an entry then never matches a range.
    """
    if value is None:
        return None
    digits = value.strip().split(".", 1)[0].split("+", 1)[0].split("-", 1)[0]
    if not digits.isdigit() or len(digits) < 4 or len(digits) > 14 or len(digits) % 2:
        return None
    return digits.ljust(14, "0")
