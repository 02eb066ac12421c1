"""Referral's domain objects as the API shows them (the same fields the store holds, minus outbox and facets)."""

from __future__ import annotations

from typing import Any

from migradesk_referral.adapters.repository import notice_document
from migradesk_referral.domain.notifications import Notice
from migradesk_referral.domain.person import PersonContact
from migradesk_referral.domain.record import ReferralRecord
from migradesk_referral.domain.referral import allowed_actions
from migradesk_referral.domain.routing import Agency
from migradesk_shared.contracts.vocabulary import ReferralStatus, Role


def referral_view(referral: ReferralRecord, role: Role | None = None) -> dict[str, Any]:
    """The referral; `allowed_actions` are the steps the machine allows that `role` (the caller's) may take."""
    state, request = referral.state, referral.request
    view: dict[str, Any] = {
        "request_id": request.request_id, "routing_attempt": referral.attempt, "case_id": request.case_id,
        "category": request.category, "service_area": request.area.value, "agency_id": referral.agency_id,
        "declined_by": list(referral.declined_by), "status": state.status.value,
        "routing_reason": referral.routing_reason, "language": request.facets.language,
        "municipality": request.municipality, "correlation_id": request.correlation_id,
        "created_at": referral.created_at, "updated_at": referral.updated_at, "version": state.version,
        "response_due_at": referral.response_due_at, "overdue": referral.overdue,
        "reroute_pending": referral.reroute_pending,
        "history": [{"status": h.status.value, "action": h.action.value if h.action else None, "actor": h.actor,
                     "at": h.at, "reason": h.reason, "comment": h.comment} for h in state.history],
    }
    # The fields appear as they do in the store: the lifecycle ones once a step was taken, the follow-ups
    # once they happened.
    if referral.acted_on:
        view.update({"outcome": state.outcome.value if state.outcome else None,
                     "decline_reason": state.decline_reason, "scheduled_for": state.scheduled_for})
    if referral.escalated_to is not None:
        view["escalated_to"] = referral.escalated_to
    if referral.rerouted_to is not None:
        view["rerouted_to"] = referral.rerouted_to
    if referral.notices:
        view["notices"] = notices_view(referral.notices)
    view["referral_id"] = referral.referral_id
    view["allowed_actions"] = (sorted(a.value for a in allowed_actions(state, role))
                               if state.status is not ReferralStatus.NEEDS_MANUAL_ROUTING else [])
    return view


def notices_view(notices: tuple[Notice, ...]) -> dict[str, dict[str, Any]]:
    """Who was (or is to be) written to about an escalation, and when, by notice id as the store keeps them:
    `status` pending, sent or not_sent (`error`: the server's last refusal, or why never: no_mail_server,
    no_address), `attempts`, `sent_at`, and `not_before` (the next try)."""
    return {n.notice_id: notice_document(n) for n in notices}


def person_view(contact: PersonContact | None) -> dict[str, Any] | None:
    """None when the person did not consent to sharing their contact, or was erased."""
    if contact is None:
        return None
    return {"full_name": contact.full_name, "phone": contact.phone, "languages": list(contact.languages),
            "birth_date": contact.birth_date.isoformat() if contact.birth_date else None,
            "updated_at": contact.updated_at}


def agency_view(agency: Agency, *, with_audit: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {"agency_id": agency.agency_id, "name": agency.name, "type": agency.type,
                            "areas": [a.value for a in agency.areas]}
    if agency.categories is not None:
        view["categories"] = list(agency.categories)
    view.update({"languages": list(agency.languages), "address": agency.address})
    if agency.capacity is not None:
        view["capacity"] = agency.capacity
    if agency.opening_hours:
        view["opening_hours"] = {day: list(hours) for day, hours in agency.opening_hours}
    if agency.contact_email:
        view["contact_email"] = agency.contact_email
    view.update({"active": agency.active, "open_referrals": agency.open_referrals})
    if with_audit:
        view.update({"version": agency.version, "audit": list(agency.audit)})
    return view
