"""A person's phone number: plausible as a Brazilian or an international number, kept in E.164 (+5567999990000),
so the partner agency that calls the person gets a number it can dial."""

from __future__ import annotations

import re


class PhoneFormatError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.kind = "phone_format"
        self.message = message


# Brazil's area codes (DDD) in use.
BRAZILIAN_AREA_CODES = frozenset({
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46,
    47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85,
    86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
})
# E.164: at most 15 digits after the +, the country code never starting with 0. Eight is the shortest a real
# international number gets (a short country code and a short subscriber number).
_INTERNATIONAL = re.compile(r"[1-9]\d{7,14}")


def _brazilian(national: str) -> str:
    """The E.164 form of a Brazilian number given with its area code: 10 digits for a landline (the number
    starts with 2 to 5), 11 for a mobile (the number starts with 9)."""
    if not national.isdigit() or len(national) not in (10, 11) or int(national[:2]) not in BRAZILIAN_AREA_CODES:
        raise PhoneFormatError("a Brazilian number has its area code (DDD) and 8 or 9 digits, e.g. (67) 99999-0000")
    first = national[2]
    if (len(national) == 11 and first != "9") or (len(national) == 10 and first not in "2345"):
        raise PhoneFormatError("a Brazilian mobile number has 9 digits starting with 9 after the area code, "
                               "a landline 8 digits starting with 2 to 5")
    return f"+55{national}"


def normalise_phone(raw: str) -> str:
    """+<country code><number>. A number without a country code is Brazilian: "(67) 99999-0000",
    "067 99999 0000". Another country's: "+58 412 555 0101" or "00 58 412 555 0101"."""
    text = raw.strip()
    if not re.fullmatch(r"\+?[\d\s().\-]+", text):
        raise PhoneFormatError("a phone number has digits only, with spaces, dots, hyphens or brackets between them")
    digits = re.sub(r"\D", "", text)
    international = text.startswith("+") or digits.startswith("00")
    if international:
        digits = digits[2:] if not text.startswith("+") else digits
        if digits.startswith("55"):
            return _brazilian(digits[2:])
        if not _INTERNATIONAL.fullmatch(digits):
            raise PhoneFormatError("an international number has its country code and 8 to 15 digits in all")
        return f"+{digits}"
    # A leading 0 is the national trunk prefix ("0 67 ..."), not part of the number.
    if digits.startswith("0"):
        digits = digits[1:]
    return _brazilian(digits)
