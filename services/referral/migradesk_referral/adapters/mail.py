"""The e-mail notices of escalations, sent through the configured SMTP server (aiosmtplib).

A notice names the referral by its id and says what and where (area, category, agency), how overdue, and links
to the referral's page, where whoever may see it signs in. It carries no personal data: no name, contact,
document or free text of the person or of the case, so it may travel through mail servers the municipality does
not run. The text is the pages' catalog's, in the municipality's language (pt-BR).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from migradesk_referral.domain.notifications import Notice, NoticeKind
from migradesk_referral.domain.record import ReferralRecord
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.topics import ServiceArea
from migradesk_shared.web.i18n import N_, format_datetime

SUBJECTS: dict[NoticeKind, str] = {
    NoticeKind.OVERDUE: N_("[MigraDesk] Referral waiting past its deadline: %(area)s, %(agency)s"),
    NoticeKind.NEEDS_MANUAL_ROUTING: N_("[MigraDesk] Referral no agency could take: %(area)s"),
}
OPENINGS: dict[NoticeKind, str] = {
    NoticeKind.OVERDUE: N_("A referral addressed to %(agency)s is waiting for an answer past its deadline."),
    NoticeKind.NEEDS_MANUAL_ROUTING: N_("No partner agency could take this referral: the desk routes it by hand."),
}
REFERENCE = N_("Reference: %(referral_id)s")
AREA = N_("Service area: %(area)s")
CATEGORY = N_("Category: %(category)s")
AGENCY = N_("Agency: %(agency)s")
OVERDUE_BY = N_("Respond by: %(deadline)s (%(hours)s hours ago)")
LINK = N_("Open the referral: %(link)s")
NO_PERSONAL_DATA = N_("This message carries no personal data: sign in to see the referral.")
NO_AGENCY = N_("none yet")


class NoticeMail:
    """Writes a notice as an e-mail message."""

    def __init__(self, *, sender: str, pages_base_url: str, gettext: Callable[[str], str], timezone: str,
                 locale: str, area_labels: Mapping[ServiceArea, str], category_labels: Mapping[str, str],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._sender = sender
        self._base = pages_base_url.rstrip("/")
        self._ = gettext
        self._timezone = timezone
        self._locale = locale
        self._areas = area_labels
        self._categories = category_labels
        self._clock = clock

    def link(self, referral_id: str) -> str:
        return f"{self._base}/inbox/referrals/{referral_id}"

    def message(self, notice: Notice, referral: ReferralRecord, agency_name: str | None) -> EmailMessage:
        _ = self._
        request = referral.request
        area = _(self._areas[request.area])
        category = (_(self._categories[request.category]) if request.category in self._categories
                    else request.category)
        agency = agency_name or _(NO_AGENCY)
        lines = [_(OPENINGS[notice.kind]) % {"agency": agency}, "",
                 _(REFERENCE) % {"referral_id": referral.referral_id}, _(AREA) % {"area": area},
                 _(CATEGORY) % {"category": category}, _(AGENCY) % {"agency": agency}]
        if notice.deadline is not None:
            hours = max(int((self._clock() - notice.deadline).total_seconds() // 3600), 0)
            lines.append(_(OVERDUE_BY) % {
                "deadline": format_datetime(notice.deadline, self._locale, "short", self._timezone), "hours": hours})
        lines += ["", _(LINK) % {"link": self.link(referral.referral_id)}, "", _(NO_PERSONAL_DATA)]
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = notice.address or ""
        message["Subject"] = _(SUBJECTS[notice.kind]) % {"area": area, "agency": agency}
        # One id per notice: a notice sent again after a crash is recognisable as the same message.
        message["Message-ID"] = make_msgid(idstring=notice.notice_id, domain="migradesk")
        message.set_content("\n".join(lines) + "\n")
        return message


class SmtpNoticeSender:
    """Sends notices through the configured SMTP server; an error (refused, unreachable, timed out) raises."""

    def __init__(self, settings: ReferralSettings, mail: NoticeMail) -> None:
        self._settings = settings
        self._mail = mail

    async def send(self, notice: Notice, referral: ReferralRecord, agency_name: str | None) -> None:
        settings = self._settings
        password = settings.smtp_password.get_secret_value()
        await aiosmtplib.send(self._mail.message(notice, referral, agency_name), hostname=settings.smtp_host,
                              port=settings.smtp_port, username=settings.smtp_username or None,
                              password=password or None, start_tls=settings.smtp_starttls,
                              timeout=settings.smtp_timeout_seconds)
