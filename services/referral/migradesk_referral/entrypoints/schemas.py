"""The referral API's request payloads (pydantic): validated before any use case runs (422)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from migradesk_shared.contracts.vocabulary import Action, DeclineReason, Outcome


class ReferralActionIn(BaseModel):
    """One step of the referral's life, as an agency (or the desk) takes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Action
    # For decline: one of the decline reasons; for could_not_help, cancel, unable_to_contact: a short reason.
    reason: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    outcome: Outcome | None = None
    comment: Annotated[str, Field(max_length=2000)] | None = None
    scheduled_for: AwareDatetime | None = None
    # The version the agency saw; a stale one gets 409 instead of silently overwriting someone else's step.
    expected_version: Annotated[int, Field(ge=1)] | None = None

    @field_validator("reason")
    @classmethod
    def _decline_reason_is_known(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("action") is Action.DECLINE and value is not None and value not in set(DeclineReason):
            raise ValueError(f"a decline reason is one of: {', '.join(r.value for r in DeclineReason)}")
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
