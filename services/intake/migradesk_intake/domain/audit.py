"""LGPD accountability: who read or changed a person's data, when, and in which case. Ids only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AccessKind(StrEnum):
    CASE_OPEN = "case.open"
    CASE_READ = "case.read"
    DUPLICATE_CANDIDATE = "person.duplicate_candidate"
    PERSON_ERASE = "person.erase"


@dataclass(frozen=True)
class Access:
    actor: str
    action: AccessKind
    subject_id: str  # the person
    case_id: str
    at: datetime
