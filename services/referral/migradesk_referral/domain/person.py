"""The contact of a person, as intake shares it with the partner network (with the person's consent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class PersonContact:
    """What the serving agency may see of the person: name, phone, languages, birth date (documents stay at
    the desk)."""

    full_name: str
    phone: str | None
    languages: tuple[str, ...]
    birth_date: date | None
    updated_at: datetime


@dataclass(frozen=True)
class ContactRead:
    """LGPD accountability: someone was shown a person's contact through a referral. Ids only."""

    actor: str  # who read it (a token's subject, a signed-in account)
    referral_id: str
    case_id: str
    at: datetime
    channel: str  # "api" or "page"
