"""One error base class for every service, rendered by one FastAPI handler."""

from __future__ import annotations

from typing import Any


class MigraDeskError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class NotFound(MigraDeskError):
    status_code = 404
    code = "not_found"


class Conflict(MigraDeskError):
    status_code = 409
    code = "conflict"


class Forbidden(MigraDeskError):
    status_code = 403
    code = "forbidden"


class DomainRuleViolation(MigraDeskError):
    """A command that breaks a domain rule, e.g. an illegal referral transition."""

    status_code = 422
    code = "rule_violation"
