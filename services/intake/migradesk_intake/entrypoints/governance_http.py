"""The governance register's API: activities and instruments recorded, corrected and withdrawn, their documents
uploaded and downloaded, a year's register listed. Desk staff, coordinators and administrators."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from migradesk_intake.domain.governance import (
    MAX_ATTACHMENT_BYTES,
    Attachment,
    GovernanceRecord,
    dimension_of,
)
from migradesk_intake.governance import GovernanceRegister, Register
from migradesk_shared.auth import Principal, Role, requires
from migradesk_shared.contracts.activities import ActivityFacts, InstrumentFacts, RecordFacts
from migradesk_shared.errors import DomainRuleViolation
from migradesk_shared.http import API_ERROR_RESPONSES

RegisterKeeper = Annotated[Principal, Depends(requires(Role.STAFF, Role.COORDINATOR, Role.ADMIN))]
Year = Annotated[int, Query(ge=1990, le=2100)]


class RevisionIn(BaseModel):
    revision: int = Field(ge=1, description="the revision read: a change over a newer one is refused (409)")


class RecordRevisionIn(RevisionIn):
    facts: RecordFacts


def governance(request: Request) -> GovernanceRegister:
    return cast(GovernanceRegister, request.app.state.governance)


def attachment_view(attachment: Attachment) -> dict[str, Any]:
    return {"attachment_id": attachment.attachment_id, "name": attachment.name, "media_type": attachment.media_type,
            "size": attachment.size, "sha256": attachment.sha256, "uploaded_at": attachment.uploaded_at.isoformat(),
            "uploaded_by": attachment.uploaded_by}


def record_view(record: GovernanceRecord) -> dict[str, Any]:
    return {"record_id": record.record_id, "record": record.record, "dimension": dimension_of(record.facts),
            "revision": record.revision, "withdrawn": record.withdrawn, "facts": record.facts.model_dump(mode="json"),
            "created_at": record.created_at.isoformat(), "created_by": record.created_by,
            "updated_at": record.updated_at.isoformat(), "updated_by": record.updated_by,
            "attachments": [attachment_view(a) for a in record.attachments]}


def register_view(register: Register) -> dict[str, Any]:
    return {"year": register.year, "activities": [record_view(r) for r in register.activities],
            "instruments": [record_view(r) for r in register.instruments]}


def download(attachment: Attachment, content: bytes) -> Response:
    # Always a download under its checked type, never shown inline: a document cannot run in the page's origin.
    # The name in UTF-8 (RFC 6266), with an ASCII one for clients that read only that: "presença.pdf" stays
    # itself, and no byte outside ASCII goes into the header.
    plain = unicodedata.normalize("NFKD", attachment.name).encode("ascii", "ignore").decode() or "document"
    return Response(content, media_type=attachment.media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(attachment.name)}",
        "Cache-Control": "private, no-store"})


async def read_upload(file: UploadFile) -> bytes:
    content = await file.read(MAX_ATTACHMENT_BYTES + 1)
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise DomainRuleViolation(f"the file is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB", field="file",
                                  reason="size")
    return content


def build_governance_router() -> APIRouter:
    router = APIRouter(prefix="/api/governance", tags=["governance register"], responses=API_ERROR_RESPONSES)

    @router.get("")
    async def year_register(request: Request, caller: RegisterKeeper, year: Year) -> dict[str, Any]:
        """The year's activities and the instruments in force during it (withdrawn records left out)."""
        return register_view(await governance(request).register(year))

    @router.post("/activities", status_code=201)
    async def record_activity(payload: ActivityFacts, request: Request, caller: RegisterKeeper) -> dict[str, Any]:
        return record_view(await governance(request).record(payload, actor=caller.actor))

    @router.post("/instruments", status_code=201)
    async def record_instrument(payload: InstrumentFacts, request: Request,
                                caller: RegisterKeeper) -> dict[str, Any]:
        return record_view(await governance(request).record(payload, actor=caller.actor))

    @router.get("/{record_id}")
    async def read_record(record_id: str, request: Request, caller: RegisterKeeper) -> dict[str, Any]:
        return record_view(await governance(request).read(record_id))

    @router.put("/{record_id}")
    async def revise_record(record_id: str, payload: RecordRevisionIn, request: Request,
                            caller: RegisterKeeper) -> dict[str, Any]:
        """Correct a record's facts; `revision` is the one read (409 if someone changed it since)."""
        return record_view(await governance(request).revise(record_id, payload.facts,
                                                            expected_revision=payload.revision, actor=caller.actor))

    @router.post("/{record_id}/withdraw")
    async def withdraw_record(record_id: str, payload: RevisionIn, request: Request,
                              caller: RegisterKeeper) -> dict[str, Any]:
        """Take a record out of the register and the figures (it stays readable here, marked withdrawn)."""
        return record_view(await governance(request).withdraw(record_id, expected_revision=payload.revision,
                                                               actor=caller.actor))

    @router.post("/{record_id}/attachments", status_code=201)
    async def attach(record_id: str, request: Request, caller: RegisterKeeper,
                     file: Annotated[UploadFile, File(description="PDF, image, text, CSV or office document")]
                     ) -> dict[str, Any]:
        attachment = await governance(request).attach(
            record_id, name=file.filename or "document", media_type=(file.content_type or "").split(";")[0],
            content=await read_upload(file), actor=caller.actor)
        return attachment_view(attachment)

    @router.get("/{record_id}/attachments/{attachment_id}")
    async def attachment_file(record_id: str, attachment_id: str, request: Request,
                              caller: RegisterKeeper) -> Response:
        return download(*await governance(request).document(record_id, attachment_id))

    @router.delete("/{record_id}/attachments/{attachment_id}", status_code=204)
    async def detach(record_id: str, attachment_id: str, request: Request, caller: RegisterKeeper) -> Response:
        await governance(request).detach(record_id, attachment_id)
        return Response(status_code=204)

    return router
