"""The referral API's request payloads (pydantic): validated before any use case runs (422)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from migradesk_referral.domain.referral import COULD_NOT_HELP_REASON_MAX, is_reason_code
from migradesk_shared.contracts.vocabulary import Action, DeclineReason, Outcome


class ReferralActionIn(BaseModel):
    """One step of the referral's life, as an agency (or the desk) takes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Action
    # Declared before `reason`, whose check reads it.
    outcome: Outcome | None = None
    # For decline: one of the decline reasons; for could_not_help: a reason code (e.g. no_vacancy, at most 80
    # characters), which goes out in the de-identified ReferralCompleted event; for cancel, unable_to_contact:
    # a short reason, kept in the referral's history only.
    reason: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    comment: Annotated[str, Field(max_length=2000)] | None = None
    scheduled_for: AwareDatetime | None = None
    # The version the agency saw; a stale one gets 409 instead of silently overwriting someone else's step.
    expected_version: Annotated[int, Field(ge=1)] | None = None

    @field_validator("reason")
    @classmethod
    def _reason_fits_the_step(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        action = info.data.get("action")
        if action is Action.DECLINE and value not in set(DeclineReason):
            raise ValueError(f"a decline reason is one of: {', '.join(r.value for r in DeclineReason)}")
        if (action is Action.COMPLETE and info.data.get("outcome") is Outcome.COULD_NOT_HELP
                and not is_reason_code(value)):
            raise PydanticCustomError(
                "reason_code", "the reason the agency could not help is a code: lower-case letters, digits and _, "
                "at most {max_length} characters (e.g. no_vacancy); say the rest in the comment",
                {"max_length": COULD_NOT_HELP_REASON_MAX})
        return value


class RouteIn(BaseModel):
    """The desk routes a referral that needs manual routing to an agency it chose."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agency_id: Annotated[str, Field(min_length=1, max_length=100)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    expected_version: Annotated[int, Field(ge=1)] | None = None


class RedirectIn(BaseModel):
    """The desk moves an open referral to another agency; a stale expected_version gets 409."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agency_id: Annotated[str, Field(min_length=1, max_length=100)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    expected_version: Annotated[int, Field(ge=1)]


class AgencyIn(BaseModel):
    """An agency's details, as the directory's administrator writes them. Shapes only: the directory's rules
    (known type, areas, categories of those areas, language codes, capacity >= 1, opening hours) are checked by
    domain.directory.check_details, which names each field in error (422)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(max_length=200)]
    type: Annotated[str, Field(max_length=60)]
    areas: Annotated[list[str], Field(max_length=10)]
    # Left out (or empty): every category of its areas.
    categories: Annotated[list[str], Field(max_length=60)] | None = None
    languages: Annotated[list[str], Field(max_length=20)]
    address: Annotated[str, Field(max_length=300)] = ""
    capacity: int
    # Weekday (mon..sun) -> opening intervals "HH:MM-HH:MM"; a weekday left out is closed.
    opening_hours: Annotated[dict[str, Annotated[list[str], Field(max_length=4)]], Field(max_length=7)] = {}
    # Where the agency is told of its overdue referrals (an address, no display name); left out: not written to.
    contact_email: Annotated[str, Field(max_length=254)] = ""


class NewAgencyIn(AgencyIn):
    # Lower-case letters, digits and hyphens; left out, it is made from the name.
    agency_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    active: bool = True


class AgencyEditIn(AgencyIn):
    # The version the administrator saw; a stale one gets 409 instead of overwriting someone else's edit.
    expected_version: Annotated[int, Field(ge=1)]


class AgencyStateIn(BaseModel):
    """Deactivate or activate: optionally over the version seen (stale: 409, unless it is in that state already)."""

    model_config = ConfigDict(extra="forbid")

    expected_version: Annotated[int, Field(ge=1)] | None = None
