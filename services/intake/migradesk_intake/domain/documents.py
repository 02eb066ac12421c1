"""Identity documents as the desk takes them down: each type's format, checked, and the number normalised so the
same document typed two ways is one document (duplicate detection compares numbers exactly)."""

from __future__ import annotations

import re

from migradesk_shared.contracts.vocabulary import DocumentType


class DocumentFormatError(ValueError):
    """A number that is not in its document's format. `kind` names the rule broken (the API gives it as the
    error's type, so a page can say it in its own language)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_SEPARATORS = re.compile(r"[\s.\-/]")


def cpf_check_digits(first_nine: str) -> str:
    """The two check digits the Receita Federal appends to a CPF's first nine digits: each is 11 minus the
    remainder by 11 of the digits weighted from 10 (then 11) down to 2, and 0 where that gives 10 or 11."""
    digits = [int(d) for d in first_nine]
    for _ in range(2):
        weights = range(len(digits) + 1, 1, -1)
        remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return f"{digits[-2]}{digits[-1]}"


def normalise_cpf(number: str) -> str:
    """The CPF's 11 digits, without punctuation; accepts "123.456.789-09" and "12345678909" alike."""
    digits = _SEPARATORS.sub("", number)
    if not re.fullmatch(r"\d{11}", digits):
        raise DocumentFormatError("cpf_format", "a CPF has 11 digits, e.g. 123.456.789-09")
    # Eleven equal digits pass the arithmetic but the Receita Federal never issues them.
    if len(set(digits)) == 1 or cpf_check_digits(digits[:9]) != digits[9:]:
        raise DocumentFormatError("cpf_check_digits", "not a valid CPF: the check digits do not match")
    return digits


# The Registro Nacional Migratório (the number on the CRNM, formerly the RNE): a letter, six letters or digits
# and a check character, printed as V123456-7. The Federal Police publish no rule for the check character, so
# only the shape is checked.
_RNM = re.compile(r"([A-Z])([A-Z0-9]{6})-?([A-Z0-9])")


def normalise_rnm(number: str) -> str:
    """As the card prints it, e.g. "V123456-7"; accepts it without the hyphen, in lower case or with spaces."""
    compact = re.sub(r"[\s.]", "", number).upper()
    found = _RNM.fullmatch(compact)
    if found is None:
        raise DocumentFormatError(
            "rnm_format", "an RNM is a letter, six letters or digits and a check character, e.g. V123456-7")
    return f"{found.group(1)}{found.group(2)}-{found.group(3)}"


def normalise_protocol(number: str) -> str:
    """A protocol number (of a refuge request, of a residence authorisation request): their layouts changed with
    the systems that issued them, so only the shape is checked: digits with the usual separators (. / -),
    6 digits at least."""
    compact = re.sub(r"\s", "", number).upper()
    if not re.fullmatch(r"[0-9A-Z][0-9A-Z./\-]{4,28}[0-9A-Z]", compact) or sum(c.isdigit() for c in compact) < 6:
        raise DocumentFormatError("protocol_format",
                                  "a protocol number has 6 digits at least, with . / - as separators only")
    return compact


def normalise_passport(number: str) -> str:
    compact = re.sub(r"[\s\-]", "", number).upper()
    if not re.fullmatch(r"[A-Z0-9]{4,20}", compact):
        raise DocumentFormatError("passport_format", "a passport number has 4 to 20 letters or digits")
    return compact


_NORMALISERS = {
    DocumentType.CPF: normalise_cpf,
    DocumentType.RNM: normalise_rnm,
    DocumentType.REFUGEE_PROTOCOL: normalise_protocol,
    DocumentType.RESIDENCE_PROTOCOL: normalise_protocol,
    DocumentType.PASSPORT: normalise_passport,
}


def normalise_document(document_type: DocumentType, number: str) -> str:
    """The number as stored, or DocumentFormatError saying what is wrong with it."""
    return _NORMALISERS[document_type](number.strip())
