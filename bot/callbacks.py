"""Every button's payload, as aiogram CallbackData factories (well under Telegram's 64 bytes).

Ids travel as hex; they are only ever a request, re-authorised on the server on every press.
Numbers are bounded here (a forged `op:all:99999999999999999999` is refused as stale before
it reaches a query) and again by the service.
"""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field


class ObligationButton(CallbackData, prefix="ob"):
    """complete | proof | details | waive | reopen | attach, on one obligation instance."""

    action: str
    id: str


class ObligationPageButton(CallbackData, prefix="op"):
    window: str
    page: Annotated[int, Field(ge=0, le=10_000)]


class DocumentButton(CallbackData, prefix="dc"):
    """Send one proof file back into the chat."""

    id: str


class AlertButton(CallbackData, prefix="al"):
    """ack | note (on a delivered alert) and lack | lnote (on the /alerts list)."""

    action: str
    id: str


class LanguageButton(CallbackData, prefix="lg"):
    language: str


class CancelButton(CallbackData, prefix="cx"):
    """Leave whatever the chat was waiting for (proof, note, reason)."""

    what: str = "flow"


UserId = Annotated[int, Field(ge=1, le=2_147_483_647)]
Page = Annotated[int, Field(ge=0, le=10_000)]


class PeoplePageButton(CallbackData, prefix="up"):
    page: Page


class PersonButton(CallbackData, prefix="us"):
    """show | disable | enable | role | branches, on one person; `page`: of the branch list."""

    action: str
    id: UserId
    page: Page = 0


class PersonRoleButton(CallbackData, prefix="ur"):
    """Give the person this role; `branch` (hex) when the role needs a first branch."""

    id: UserId
    role: str
    branch: str = ""


class PersonBranchButton(CallbackData, prefix="ub"):
    """Add the branch (hex id) to the person's branches, or take it away."""

    id: UserId
    branch: str
    page: Page = 0


class ImportButton(CallbackData, prefix="im"):
    """import | cancel, on the preview of an obligations file (`token`: that preview's, hex)."""

    action: str
    token: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class InviteButton(CallbackData, prefix="iv"):
    """revoke, on one invite (hex id)."""

    action: str
    id: str


class TemplatePageButton(CallbackData, prefix="tl"):
    """A page of /templates."""

    page: Page


class TemplateButton(CallbackData, prefix="tt"):
    """show | deactivate | activate, on one template (hex id); `page`: the list's, for Back."""

    action: str
    id: str
    page: Page = 0


class CatalogueButton(CallbackData, prefix="tc"):
    """list (the catalogue) | adopt (the entry `key`) | all (every entry)."""

    action: str
    key: str = ""


class ExportButton(CallbackData, prefix="ex"):
    """An export as an XLSX document: `kind` obligations | domains | audit | deliveries, for one
    branch (`branch`, its code) or every branch in the presser's scope (empty)."""

    kind: str
    branch: str = ""


class AuditPageButton(CallbackData, prefix="au"):
    """A page of /audit: the entries just older than `before` or just newer than `after`
    (position tokens, `core.audit.queries.AuditCursor.token`); neither: the latest."""

    before: Annotated[str, Field(max_length=32)] = ""
    after: Annotated[str, Field(max_length=32)] = ""


class CalendarFeedButton(CallbackData, prefix="cf"):
    """new: a fresh calendar feed address for the presser; their old one stops working."""

    action: Annotated[str, Field(pattern=r"^new$")] = "new"
