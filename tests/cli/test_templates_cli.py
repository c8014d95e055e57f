"""`intrex template …` as head office runs it: real processes, real PostgreSQL.

The catalogue is listed and adopted for a tenant with branches in Dhaka North and
Chattogram (twice: the second adds nothing); a template is added with every option, then
updated, deactivated and activated by the first characters of its id; every bad option is
refused with its reason and exit 1, a command given nothing to do with its usage and exit 2.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.db.session import Database
from core.obligations.generation import horizon_end
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.obligations.recurrence import Recurrence, occurrences_between
from tests.cli.test_cli import server_env
from tests.cli.test_people_cli import Shell

__all__ = ["server_env"]
"""`server_env` is test_cli's fixture, used here as it is there."""

KEYS = 12


@pytest.fixture
def shell(server_env: dict[str, str], tmp_path: Path) -> Shell:
    return Shell(server_env, tmp_path)


def places(shell: Shell) -> None:
    """DNC-01 in Dhaka North City Corporation, CTG-01 in Chattogram."""
    shell.ok(
        *shell.t(
            "branch",
            "create",
            "--code",
            "DNC-01",
            "--name",
            "Gulshan",
            "--city-corporation",
            "Dhaka North City Corporation",
            "--district",
            "Dhaka",
            "--region",
            "Dhaka",
        )
    )
    shell.ok(
        *shell.t(
            "branch",
            "create",
            "--code",
            "CTG-01",
            "--name",
            "Agrabad",
            "--district",
            "Chattogram",
            "--region",
            "Chattogram",
        )
    )


async def counts(db: Database, tenant_id: uuid.UUID) -> tuple[int, int]:
    async with db.tenant_uow(tenant_id) as session:
        templates = await session.scalar(select(func.count()).select_from(ObligationTemplate))
        instances = await session.scalar(select(func.count()).select_from(ObligationInstance))
    return int(templates or 0), int(instances or 0)


async def test_the_catalogue_is_listed_and_adopted_once(shell: Shell, db: Database) -> None:
    entries = shell.ok("template", "catalogue", "--country", "bd")["entries"]
    assert len(entries) == KEYS
    vat = next(entry for entry in entries if entry["key"] == "bd.vat_return")
    assert (vat["lead_days"], vat["recurrence"], vat["severity"]) == (
        [7, 3, 1, 0],
        "monthly",
        "high",
    )
    human = shell("template", "catalogue")
    assert human.returncode == 0, human.stderr
    assert "bd.weights_measures" in human.stdout
    assert "ভ্যাট রিটার্ন" in human.stdout
    assert "There is no jurisdiction XX" in shell.refused(
        "template", "catalogue", "--country", "XX"
    )

    places(shell)
    assert "Usage: intrex template adopt" in shell.refused(*shell.t("template", "adopt"), code=2)
    assert "Usage:" in shell.refused(*shell.t("template", "adopt", "bd.ecc", "--all"), code=2)
    typo = shell.refused(*shell.t("template", "adopt", "bd.vat_return", "bd.fire_license"))
    assert "“bd.fire_license”" in typo
    assert "bd.fire_licence" in typo
    assert await counts(db, shell.tenant_id) == (0, 0)

    adopted = shell.ok(*shell.t("template", "adopt", "--all"))

    assert len(adopted["adopted"]) == KEYS
    assert adopted["already_adopted"] == []
    templates, instances = await counts(db, shell.tenant_id)
    assert templates == KEYS
    assert instances == adopted["instances_created"] > 2 * KEYS
    again = shell(*shell.t("template", "adopt", "bd.vat_return", "trade_licence"))
    assert again.returncode == 0, again.stderr
    assert "Already adopted: bd.vat_return, bd.trade_licence." in again.stdout
    assert await counts(db, shell.tenant_id) == (templates, instances)

    listed = shell.ok(*shell.t("template", "list"))
    assert len(listed["templates"]) == KEYS
    assert {t["applies_to"] for t in listed["templates"]} == {"jurisdiction"}
    assert {t["jurisdiction"]["label"] for t in listed["templates"]} == {"Bangladesh"}
    table = shell(*shell.t("template", "list"))
    assert table.returncode == 0, table.stderr
    assert "Bangladesh" in table.stdout


async def test_add_update_deactivate_and_activate_a_template(shell: Shell, db: Database) -> None:
    places(shell)
    manager = shell.ok(
        *shell.t(
            "invite",
            "create",
            "--role",
            "branch_manager",
            "--branch",
            "DNC-01",
            "--email",
            "mina@example.com",
            "--name",
            "Mina",
        )
    )
    today = datetime.now(ZoneInfo("Asia/Dhaka")).date()
    anchor = today + timedelta(days=10)
    add = [
        "template",
        "add",
        "--category",
        "fire-safety",
        "--title",
        "Fire drill",
        "--recurrence",
        "every:90",
        "--anchor",
        f"{anchor:%d/%m/%Y}",
    ]
    refusals = {
        ("--anchor", "31/06/2026"): "“31/06/2026” is not a real date.",
        ("--anchor", "2026.06.30"): "“2026.06.30” is not a date: write YYYY-MM-DD or DD/MM/YYYY.",
        ("--recurrence", "fortnightly"): "“fortnightly” is not a recurrence",
        ("--lead-days", "30,x"): "“30,x” is not a list of reminder lead days",
        ("--grace-days", "400"): "Grace days must be between 0 and 366.",
        ("--branch", "CTG-01", "--owner", "mina@example.com"): "Mina does not work for branch",
        ("--branch", "CTG-01", "--jurisdiction", "BD"): "not both",
    }
    for extra, message in refusals.items():
        replaced = list(add)
        for option, value in zip(extra[::2], extra[1::2], strict=True):
            if option in replaced:
                replaced[replaced.index(option) + 1] = value
            else:
                replaced += [option, value]
        assert message in shell.refused(*shell.t(*replaced)), extra
    assert "Usage: intrex template add" in shell.refused(
        *shell.t("template", "add", "--title", "X"), code=2
    )
    assert await counts(db, shell.tenant_id) == (0, 0)

    added = shell.ok(
        *shell.t(
            *add,
            "--severity",
            "HIGH",
            "--lead-days",
            "45, 7,0",
            "--grace-days",
            "5",
            "--proof-required",
            "--description",
            "Evacuate the building",
            "--owner",
            "mina@example.com",
            "--jurisdiction",
            "dhaka north city corporation",
        )
    )
    template = added["template"]
    assert (template["recurrence"], template["anchor_date"]) == ("every:90", anchor.isoformat())
    assert (template["lead_days"], template["grace_days"], template["proof_required"]) == (
        [45, 7, 0],
        5,
        True,
    )
    assert template["owner"] == {"id": manager["person"]["id"], "name": "Mina"}
    assert template["jurisdiction"]["label"] == "Dhaka North City Corporation"
    dues = occurrences_between(anchor, Recurrence.every(90), today, horizon_end(today, 12))
    assert added["instances_created"] == template["open_instances"] == len(dues) > 0
    short = template["id"].replace("-", "")[:8]

    assert "Usage: intrex template update" in shell.refused(
        *shell.t("template", "update", short), code=2
    )
    assert "There is no template “abc”" in shell.refused(
        *shell.t("template", "update", "abc", "--title", "X")
    )
    updated = shell.ok(
        *shell.t(
            "template",
            "update",
            short,
            "--title",
            "Fire evacuation drill",
            "--severity",
            "critical",
            "--all-branches",
            "--no-owner",
        )
    )
    assert updated["changed"] is True
    assert updated["instances_updated"] == len(dues)
    assert updated["instances_created"] == len(dues)  # CTG-01 joins
    assert updated["template"]["applies_to"] == "all"
    assert updated["template"]["owner"] is None
    async with db.tenant_uow(shell.tenant_id) as session:
        words = set(
            await session.execute(
                select(
                    ObligationInstance.title,
                    ObligationInstance.severity,
                    ObligationInstance.owner_user_id,
                )
            )
        )
    assert {(row[0], row[1].value, row[2]) for row in words} == {
        ("Fire evacuation drill", "critical", None)
    }
    same = shell(*shell.t("template", "update", short, "--title", "Fire evacuation drill"))
    assert "Nothing changed" in same.stdout

    off = shell(*shell.t("template", "deactivate", short))
    assert off.returncode == 0, off.stderr
    assert "no more instances are generated" in off.stdout
    assert shell.ok(*shell.t("template", "list"))["templates"] == []
    (listed,) = shell.ok(*shell.t("template", "list", "--all"))["templates"]
    assert listed["status"] == "inactive"
    assert shell.ok(*shell.t("template", "deactivate", short))["changed"] is False
    on = shell.ok(*shell.t("template", "activate", template["id"]))
    assert (on["changed"], on["template"]["status"]) == (True, "active")
