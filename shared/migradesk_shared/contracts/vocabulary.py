"""The vocabulary the contracts speak: values as they appear on the wire, shared by every service.

A service's rules about these values (which referral states are open, which transitions are legal, who may
see what) live in that service's own domain; only the names travel.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who someone is to MigraDesk: carried by access tokens and session tokens, read by every service (each
    service's own rules say what a role may do there; `migradesk_shared.auth` re-exports it)."""

    STAFF = "staff"  # desk staff: persons, cases, referrals of their municipality
    AGENCY = "agency"  # a partner agency: only the referrals addressed to it
    COORDINATOR = "coordinator"  # aggregates only
    ADMIN = "admin"


class ServiceArea(StrEnum):
    HEALTH = "health"
    EDUCATION = "education"
    SOCIAL_ASSISTANCE = "social_assistance"
    WORK = "work"
    PROTECTION = "protection"


class MigratoryStatus(StrEnum):
    REFUGEE = "refugiado"
    ASYLUM_SEEKER = "solicitante_refugio"
    TEMPORARY_RESIDENCE = "residencia_temporaria"
    HUMANITARIAN_RECEPTION = "acolhida_humanitaria"
    STATELESS = "apatrida"
    BORDER_RESIDENT = "residente_fronteirico"
    UNDOCUMENTED = "indocumentado"
    OTHER = "other"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    INTERSEX = "intersex"
    NOT_INFORMED = "not_informed"


class DocumentType(StrEnum):
    CPF = "cpf"
    RNM = "rnm"  # RNM / CRNM
    REFUGEE_PROTOCOL = "refugee_protocol"  # protocolo de solicitação de refúgio
    RESIDENCE_PROTOCOL = "residence_protocol"  # protocolo of a residence authorisation request
    PASSPORT = "passport"


class LegalBasis(StrEnum):
    """The LGPD bases the desk uses; each is also a basis for sensitive data (art. 11), so one list serves both.

    Health protection (art. 7 VIII / 11 II f) is left out on purpose: the law reserves it to procedures of
    health professionals and services, which a migrant desk is not."""

    CONSENT = "consent"  # art. 7 I / art. 11 I (for sensitive data: specific and highlighted)
    LEGAL_OBLIGATION = "legal_obligation"  # art. 7 II / art. 11 II a (cumprimento de obrigação legal)
    PUBLIC_POLICY = "public_policy"  # art. 7 III / art. 11 II b (execução de políticas públicas)
    LIFE_PROTECTION = "life_protection"  # art. 7 VII / art. 11 II e (proteção da vida, incolumidade física)


class RaceColour(StrEnum):
    """Self-declared race/colour in IBGE's five categories (LGPD art. 11: sensitive)."""

    BRANCA = "branca"
    PRETA = "preta"
    PARDA = "parda"
    AMARELA = "amarela"
    INDIGENA = "indigena"
    PREFERS_NOT_TO_SAY = "prefers_not_to_say"


class GenderIdentity(StrEnum):
    """Self-declared gender identity (LGPD art. 11: sensitive); distinct from `Sex`."""

    CIS_WOMAN = "cis_woman"
    CIS_MAN = "cis_man"
    TRANS_WOMAN = "trans_woman"
    TRANS_MAN = "trans_man"
    NON_BINARY = "non_binary"
    OTHER = "other"
    PREFERS_NOT_TO_SAY = "prefers_not_to_say"


class ReferralStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    DECLINED = "declined"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    UNABLE_TO_CONTACT = "unable_to_contact"
    NEEDS_MANUAL_ROUTING = "needs_manual_routing"


class Action(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    SCHEDULE = "schedule"
    ATTEND = "attend"
    NO_SHOW = "no_show"
    COMPLETE = "complete"
    CANCEL = "cancel"
    UNABLE_TO_CONTACT = "unable_to_contact"
    REOPEN = "reopen"


class Outcome(StrEnum):
    GOT_HELP = "got_help"
    COULD_NOT_HELP = "could_not_help"


class DeclineReason(StrEnum):
    NO_CAPACITY = "no_capacity"
    OUT_OF_SCOPE = "out_of_scope"
    MISSING_DOCUMENTS = "missing_documents"
    OUT_OF_TERRITORY = "out_of_territory"
    OTHER = "other"
