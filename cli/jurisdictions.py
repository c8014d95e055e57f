"""`intrex jurisdiction`: the places templates apply to (the reference data and any added)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.database import answer_from_database
from cli.output import JSON_OPTION, Reply
from core.db.session import Database
from core.obligations.models import Jurisdiction
from core.obligations.reference import list_jurisdictions

jurisdiction_app = typer.Typer(
    help="The jurisdictions (country, divisions, districts, city corporations) templates use.",
    no_args_is_help=True,
)


def jurisdiction_json(jurisdiction: Jurisdiction) -> dict[str, Any]:
    return {
        "id": jurisdiction.id,
        "code": jurisdiction.code,
        "level": jurisdiction.level,
        "country_code": jurisdiction.country_code,
        "label": jurisdiction.label,
        "label_bn": jurisdiction.label_bn,
        "region": jurisdiction.region,
        "district": jurisdiction.district,
        "city_corporation": jurisdiction.city_corporation,
    }


def _within(jurisdiction: Jurisdiction) -> str:
    """The broader places a row lies in: `Dhaka, Dhaka Division` for a city corporation."""
    parents = []
    if jurisdiction.city_corporation and jurisdiction.district:
        parents.append(f"{jurisdiction.district} District")
    if (jurisdiction.city_corporation or jurisdiction.district) and jurisdiction.region:
        parents.append(f"{jurisdiction.region} Division")
    return ", ".join(parents) or (jurisdiction.country_code if jurisdiction.region else "")


@jurisdiction_app.command("list")
def jurisdiction_list(
    country: Annotated[
        str | None, typer.Option("--country", help="Two-letter country code, e.g. BD.")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the jurisdictions: countries, divisions, districts, then city corporations."""

    async def work(db: Database) -> Reply:
        async with db.system_uow() as session:
            rows = await list_jurisdictions(session, country)
        data = {"ok": True, "jurisdictions": [jurisdiction_json(row) for row in rows]}
        if not rows:
            return Reply(data, "No jurisdictions.")
        table = Table(header_style="bold")
        for column in ("level", "name", "Bengali name", "within", "code"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                escape((row.level or "").replace("_", " ")),
                escape(row.label),
                escape(row.label_bn or ""),
                escape(_within(row)),
                escape(row.code or ""),
            )
        return Reply(data, table)

    answer_from_database(as_json, work)
