"""The notices an escalation sends: when a referral goes unanswered past its deadline (its agency and the desk are
told) and when a request falls to manual routing (the desk is told: no agency has it). Pure: the rules, not the
storage or the mail server.

A notice is recorded on the referral in the same write that escalates it, pending; a job sends the pending ones
and marks each sent, or keeps the error and tries again later (backing off). So a crash loses none, and sends one
twice only if it stopped between the server's answer and the mark. Where there is nobody to write to (no mail
server configured, or no address for the recipient), the notice is recorded as not sent, saying why.

A notice carries no personal data: the referral id, its area and category, the agency, how overdue, and a link.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class NoticeKind(StrEnum):
    OVERDUE = "overdue"
    NEEDS_MANUAL_ROUTING = "needs_manual_routing"


class Recipient(StrEnum):
    AGENCY = "agency"
    DESK = "desk"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    NOT_SENT = "not_sent"  # never will be: nobody to write to (why: `error`)


# Why a notice is not sent, as its `error` keeps it (the pages translate each).
NO_MAIL_SERVER = "no_mail_server"
NO_ADDRESS = "no_address"

# The earliest moment a new notice may go out (nothing holds it back).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How long a process that took a notice to send holds it before another may try (it died meanwhile).
CLAIM_FOR = timedelta(minutes=2)
FIRST_RETRY, LAST_RETRY = timedelta(minutes=1), timedelta(hours=1)
ERROR_MAX = 500

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
EMAIL_MAX = 254


def is_email_address(text: str) -> bool:
    """A mailbox's address as a directory keeps it (no display name): local@domain.tld."""
    return len(text) <= EMAIL_MAX and _EMAIL.fullmatch(text) is not None


@dataclass(frozen=True)
class Notice:
    """One e-mail notice about a referral, to one recipient."""

    notice_id: str
    kind: NoticeKind
    recipient: Recipient
    address: str | None
    created_at: datetime
    status: NoticeStatus = NoticeStatus.PENDING
    # The agency the referral was addressed to when the notice was made (the message names it).
    agency_id: str | None = None
    # The deadline it missed (overdue notices).
    deadline: datetime | None = None
    attempts: int = 0
    error: str | None = None  # the mail server's last refusal, or why it is not sent
    sent_at: datetime | None = None
    # Not tried before this moment: a retry's back-off, or another process's claim.
    not_before: datetime = EPOCH

    @property
    def pending(self) -> bool:
        return self.status is NoticeStatus.PENDING


@dataclass(frozen=True)
class MailSetup:
    """Whom escalations are written to: whether a mail server is configured, and the desk's address."""

    mail_server: bool = False
    desk_address: str | None = None


NO_MAIL = MailSetup()


def _notice(kind: NoticeKind, recipient: Recipient, address: str | None, *, at: datetime, setup: MailSetup,
            agency_id: str | None, deadline: datetime | None) -> Notice:
    status, error = NoticeStatus.PENDING, None
    if not setup.mail_server:
        status, error = NoticeStatus.NOT_SENT, NO_MAIL_SERVER
    elif not address:
        status, error = NoticeStatus.NOT_SENT, NO_ADDRESS
    return Notice(notice_id=uuid.uuid4().hex[:16], kind=kind, recipient=recipient, address=address or None,
                  created_at=at, status=status, agency_id=agency_id, deadline=deadline, error=error)


def overdue_notices(*, agency_id: str | None, agency_address: str | None, deadline: datetime, at: datetime,
                    setup: MailSetup) -> tuple[Notice, ...]:
    """An unanswered referral past its deadline: its agency is reminded, the desk told."""
    return (_notice(NoticeKind.OVERDUE, Recipient.AGENCY, agency_address, at=at, setup=setup, agency_id=agency_id,
                    deadline=deadline),
            _notice(NoticeKind.OVERDUE, Recipient.DESK, setup.desk_address, at=at, setup=setup,
                    agency_id=agency_id, deadline=deadline))


def manual_routing_notices(*, at: datetime, setup: MailSetup) -> tuple[Notice, ...]:
    """A request no agency took: the desk routes it by hand (there is no agency to tell)."""
    return (_notice(NoticeKind.NEEDS_MANUAL_ROUTING, Recipient.DESK, setup.desk_address, at=at, setup=setup,
                    agency_id=None, deadline=None),)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: a minute, doubling, at most an hour."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)


def sent(notice: Notice, at: datetime) -> Notice:
    return replace(notice, status=NoticeStatus.SENT, attempts=notice.attempts + 1, sent_at=at, error=None)


def failed(notice: Notice, error: str, at: datetime) -> Notice:
    """Still pending, the error kept, tried again after a back-off."""
    attempts = notice.attempts + 1
    return replace(notice, attempts=attempts, error=error[:ERROR_MAX], not_before=at + retry_delay(attempts))
