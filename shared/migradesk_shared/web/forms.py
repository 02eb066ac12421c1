"""The messages every form shows alike, in the shared catalog: field errors by the type the JSON API gives them
(pydantic's error types) and the errors of a whole request by the API's error code.

A page looks a field's error up by its type here unless it has a message of its own for that field; an error
it finds in neither place is shown as the API gave it.
"""

from __future__ import annotations

from collections.abc import Callable

from migradesk_shared.web.i18n import N_

FIELD_ERRORS: dict[str, str] = {
    "missing": N_("Fill in this field."),
    "string_too_short": N_("This is too short."),
    "string_too_long": N_("This is too long."),
    "string_pattern_mismatch": N_("This is not in the expected format."),
    "date_from_datetime_parsing": N_("Enter a valid date."),
    "date_parsing": N_("Enter a valid date."),
    "date_type": N_("Enter a valid date."),
    "enum": N_("Choose one of the options."),
    "literal_error": N_("Choose one of the options."),
    "int_parsing": N_("Enter a whole number."),
    "greater_than_equal": N_("This number is too small."),
    "too_short": N_("Add at least one item."),
    "too_long": N_("There are too many items."),
}

REQUEST_ERRORS: dict[str, str] = {
    "unauthenticated": N_("Access not authorized: your session has ended. Sign in again."),
    "forbidden": N_("Your access does not allow this."),
    "csrf_failed": N_("This page has expired. Reload it and try again."),
    "conflict": N_("Someone else changed this record meanwhile. Reload the page and try again."),
    "validation_failed": N_("Check the fields marked with an error."),
    "network": N_("The server could not be reached. Check the connection and try again."),
    "unexpected": N_("Something went wrong. Try again; if it happens again, tell the coordination."),
}


def form_messages(gettext: Callable[[str], str]) -> dict[str, dict[str, str]]:
    """The common messages in one language, for a page to hand to its script."""
    return {"field_errors": {kind: gettext(text) for kind, text in FIELD_ERRORS.items()},
            "request_errors": {code: gettext(text) for code, text in REQUEST_ERRORS.items()}}
