"""The governance register: the activities the desk logs (trainings, campaigns, participatory and cultural
events, information materials, studies, network meetings, advocacy actions, projects) and the municipality's
governance instruments (laws, decrees, plans, committees and councils, partnership agreements), with the
documents that prove them. It is what the municipality answers the MigraCidades certification with, once a year,
for dimensions 1 to 5.

A record is corrected or withdrawn, never deleted: each change makes a new revision (a stale one is refused, as
a case's version is) and one event carrying the facts before and after it, so metrics counts the correction as
the old facts out and the new ones in. No personal data belongs here; the page says so next to the uploads.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from migradesk_shared.contracts.activities import ActivityFacts, GovernanceRecordRevised, InstrumentFacts
from migradesk_shared.errors import Conflict, DomainRuleViolation, NotFound

Facts = ActivityFacts | InstrumentFacts

# A record's documents: what a law, a signed agreement, a training's attendance sheet or a leaflet is printed
# or photographed as. Anything else (executables, HTML that a browser would run) is refused by its type.
ATTACHMENT_TYPES: dict[str, str] = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
}
# The first bytes each type starts with, where it has such a signature: a file named .pdf that is not one is
# refused rather than served back under a type it is not.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/webp": (b"RIFF",),
    **{kind: (b"PK\x03\x04",) for kind in ATTACHMENT_TYPES if "openxml" in kind or "opendocument" in kind},
}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 20
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


@dataclass(frozen=True)
class Attachment:
    attachment_id: str
    name: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


@dataclass(frozen=True)
class GovernanceRecord:
    record_id: str
    facts: Facts
    revision: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    withdrawn: bool = False
    attachments: tuple[Attachment, ...] = ()

    @property
    def record(self) -> str:
        return self.facts.record

    def attachment(self, attachment_id: str) -> Attachment:
        found = next((a for a in self.attachments if a.attachment_id == attachment_id), None)
        if found is None:
            raise NotFound(f"attachment {attachment_id} not found", field="attachment_id")
        return found


@dataclass(frozen=True)
class RecordChange:
    """A record after a change, with the event announcing it (None when metrics has nothing to learn: a
    document added or removed)."""

    record: GovernanceRecord
    event: GovernanceRecordRevised | None


def _event(record: GovernanceRecord, before: Facts | None, after: Facts | None, *, municipality: str,
           now: datetime, producer: str) -> GovernanceRecordRevised:
    return GovernanceRecordRevised(producer=producer, occurred_at=now, correlation_id=record.record_id,
                                   record_id=record.record_id, municipality=municipality,
                                   revision=record.revision, before=before, after=after)


def create_record(facts: Facts, *, actor: str, municipality: str, now: datetime, producer: str = "intake",
                  record_id: str | None = None) -> RecordChange:
    record = GovernanceRecord(record_id=record_id or str(uuid.uuid4()), facts=facts, revision=1, created_at=now,
                              created_by=actor, updated_at=now, updated_by=actor)
    return RecordChange(record, _event(record, None, facts, municipality=municipality, now=now, producer=producer))


def _current(record: GovernanceRecord, expected_revision: int) -> None:
    if record.withdrawn:
        raise DomainRuleViolation("this record was withdrawn", field="record_id")
    if record.revision != expected_revision:
        raise Conflict(f"the record is at revision {record.revision}, not {expected_revision}: someone changed it",
                       field="revision")


def revise_record(record: GovernanceRecord, facts: Facts, *, expected_revision: int, actor: str,
                  municipality: str, now: datetime, producer: str = "intake") -> RecordChange:
    """Correct a record's facts; an activity stays an activity, an instrument an instrument."""
    _current(record, expected_revision)
    if facts.record != record.record:
        raise DomainRuleViolation(f"a {record.record} cannot become a {facts.record}", field="record")
    revised = replace(record, facts=facts, revision=record.revision + 1, updated_at=now, updated_by=actor)
    event = None if facts == record.facts else _event(revised, record.facts, facts, municipality=municipality,
                                                       now=now, producer=producer)
    return RecordChange(revised, event)


def withdraw_record(record: GovernanceRecord, *, expected_revision: int, actor: str, municipality: str,
                    now: datetime, producer: str = "intake") -> RecordChange:
    """Take a record out of the register (logged by mistake, or twice): it no longer counts, and is kept."""
    _current(record, expected_revision)
    withdrawn = replace(record, withdrawn=True, revision=record.revision + 1, updated_at=now, updated_by=actor)
    return RecordChange(withdrawn, _event(withdrawn, record.facts, None, municipality=municipality, now=now,
                                          producer=producer))


def safe_file_name(name: str, media_type: str) -> str:
    """The name a document is kept and offered under: no path, no control characters, its type's extension."""
    base = _UNSAFE_NAME.sub("_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(" .")[:120] or "document"
    extension = ATTACHMENT_TYPES[media_type]
    return base if base.lower().endswith(extension) else f"{base}{extension}"


def new_attachment(record: GovernanceRecord, *, name: str, media_type: str, content: bytes, actor: str,
                   now: datetime) -> Attachment:
    """Check a document before it is stored: an allowed type whose bytes are that type, within the size."""
    if record.withdrawn:
        raise DomainRuleViolation("this record was withdrawn", field="record_id")
    if media_type not in ATTACHMENT_TYPES:
        raise DomainRuleViolation(f"a document of type {media_type or 'unknown'} is not accepted: send a PDF, an "
                                  "image (PNG, JPEG, WebP), a text, CSV or office document", field="file",
                                  reason="type")
    if not content:
        raise DomainRuleViolation("the file is empty", field="file", reason="empty")
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise DomainRuleViolation(f"the file is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB",
                                  field="file", reason="size")
    signatures = _SIGNATURES.get(media_type)
    if signatures and not content.startswith(signatures):
        raise DomainRuleViolation(f"the file is not a {ATTACHMENT_TYPES[media_type][1:].upper()} file",
                                  field="file", reason="content")
    if len(record.attachments) >= MAX_ATTACHMENTS:
        raise DomainRuleViolation(f"a record holds at most {MAX_ATTACHMENTS} documents", field="file",
                                  reason="count")
    return Attachment(attachment_id=str(uuid.uuid4()), name=safe_file_name(name, media_type),
                      media_type=media_type, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                      uploaded_at=now, uploaded_by=actor)


# Which MigraCidades dimension each kind of record is evidence for (the register page groups them so).
ACTIVITY_DIMENSION: dict[str, int] = {
    "training": 2, "awareness_campaign": 2, "participatory_event": 3, "cultural_event": 3,
    "advocacy_action": 3, "information_material": 4, "mapping_study": 1, "project": 1, "network_meeting": 5,
}
INSTRUMENT_DIMENSION: dict[str, int] = {
    "law": 1, "decree": 1, "municipal_plan": 1, "committee": 3, "council": 3, "partnership_agreement": 5,
}


def dimension_of(facts: Facts) -> int:
    return (ACTIVITY_DIMENSION if isinstance(facts, ActivityFacts) else INSTRUMENT_DIMENSION)[facts.kind]


def year_of(facts: Facts) -> int:
    return (facts.held_on if isinstance(facts, ActivityFacts) else facts.adopted_on).year
