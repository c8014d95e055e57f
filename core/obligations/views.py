"""Read models of obligations as the bot and the CLI show them."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from core.db.enums import ObligationCategory, ObligationStatus, Severity
from core.obligations.models import ObligationDocument, ObligationInstance, ObligationTemplate
from core.obligations.schedule import status_for
from core.tenancy.models import Branch


class Window(enum.StrEnum):
    """The `/obligations` filters."""

    overdue = "overdue"
    today = "today"
    week = "week"
    all = "all"
    mine = "mine"
    """The open obligations the acting person owns (SPEC §6)."""


@dataclass(frozen=True)
class ObligationView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    branch_id: uuid.UUID
    branch_code: str
    branch_name: str
    template_id: uuid.UUID
    title: str
    description: str | None
    category: ObligationCategory
    severity: Severity
    recurrence: str
    proof_required: bool
    status: ObligationStatus
    """As of the tenant's today (an open item past its date shows overdue even before the clock)."""
    due_at: date
    days_left: int
    completed_at: datetime | None
    completed_by_user_id: int | None
    waived_at: datetime | None
    waived_by_user_id: int | None
    waive_reason: str | None
    owner_user_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "branch_code": self.branch_code,
            "branch_name": self.branch_name,
            "title": self.title,
            "category": self.category.value,
            "severity": self.severity.value,
            "recurrence": self.recurrence,
            "proof_required": self.proof_required,
            "status": self.status.value,
            "due_at": self.due_at.isoformat(),
            "days_left": self.days_left,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "completed_by_user_id": self.completed_by_user_id,
            "waived_at": self.waived_at.isoformat() if self.waived_at else None,
            "waived_by_user_id": self.waived_by_user_id,
            "waive_reason": self.waive_reason,
            "owner_user_id": self.owner_user_id,
        }


VIEW_COLUMNS = (
    ObligationInstance.id,
    ObligationInstance.tenant_id,
    ObligationInstance.branch_id,
    Branch.code.label("branch_code"),
    Branch.name.label("branch_name"),
    ObligationInstance.template_id,
    ObligationInstance.title,
    ObligationTemplate.description,
    ObligationInstance.category,
    ObligationInstance.severity,
    ObligationTemplate.recurrence_type,
    ObligationTemplate.proof_required,
    ObligationInstance.status,
    ObligationInstance.due_at,
    ObligationInstance.completed_at,
    ObligationInstance.completed_by_user_id,
    ObligationInstance.waived_at,
    ObligationInstance.waived_by_user_id,
    ObligationInstance.waive_reason,
    ObligationInstance.owner_user_id,
)


def view_select() -> Any:
    return (
        select(*VIEW_COLUMNS)
        .join(ObligationTemplate, ObligationTemplate.id == ObligationInstance.template_id)
        .join(Branch, Branch.id == ObligationInstance.branch_id)
    )


def to_view(row: Mapping[Any, Any], today: date) -> ObligationView:
    """A view from a row of `view_select()` read by column name (an SQLAlchemy row's
    `_mapping`, or an asyncpg Record from the driver path)."""
    stored = ObligationStatus(row["status"])
    due_at: date = row["due_at"]
    return ObligationView(
        id=row["id"],
        tenant_id=row["tenant_id"],
        branch_id=row["branch_id"],
        branch_code=row["branch_code"],
        branch_name=row["branch_name"],
        template_id=row["template_id"],
        title=row["title"],
        description=row["description"],
        category=ObligationCategory(row["category"]),
        severity=Severity(row["severity"]),
        recurrence=row["recurrence_type"],
        proof_required=bool(row["proof_required"]),
        status=stored if not stored.is_open else status_for(due_at, today),
        due_at=due_at,
        days_left=(due_at - today).days,
        completed_at=row["completed_at"],
        completed_by_user_id=row["completed_by_user_id"],
        waived_at=row["waived_at"],
        waived_by_user_id=row["waived_by_user_id"],
        waive_reason=row["waive_reason"],
        owner_user_id=row["owner_user_id"],
    )


@dataclass(frozen=True)
class ObligationPage:
    items: list[ObligationView]
    page: int
    page_size: int
    has_more: bool


@dataclass(frozen=True)
class DocumentView:
    id: uuid.UUID
    filename: str
    mime_type: str
    size_bytes: int
    sha256: str
    uploaded_by_user_id: int | None
    created_at: datetime


def document_view(document: ObligationDocument) -> DocumentView:
    return DocumentView(
        id=document.id,
        filename=document.filename,
        mime_type=document.mime_type,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        uploaded_by_user_id=document.uploaded_by_user_id,
        created_at=document.created_at,
    )


@dataclass(frozen=True)
class ObligationDetails:
    """One obligation with its proof files (what the actor may do with it: `policy`)."""

    obligation: ObligationView
    documents: list[DocumentView]
    owner_name: str | None = None
    """How the owner is named (`names.user_name`), None when the obligation has no owner."""
