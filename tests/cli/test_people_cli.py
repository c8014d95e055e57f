"""`intrex user|invite|branch` as head office runs them: real processes, real PostgreSQL.

Each test makes its own tenant on the shared database and checks what the commands print
(human and `--json`), their exit status, and what the database holds afterwards. The
invite links' bot username is fetched from the project's Telegram stand-in, as it would
be from the Bot API when only BOT_TOKEN is set.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cli.telegram import CACHE_FILE, token_key
from core.audit.models import ActivityLog
from core.crypto import generate_key
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.tenancy.invites import TelegramIdentity, redeem_invite
from core.tenancy.models import Branch, InviteCode, User, UserBranch
from tests.cli.test_cli import as_json, run, server_env
from tests.cli.test_notify_cli import intrex, last_json
from tests.environment import intrex_env
from tests.peers import free_port
from tests.telegram_stub import BOT_USERNAME, TelegramStub

__all__ = ["server_env"]
"""`server_env` is test_cli's fixture, used here as it is there."""

DHAKA = ZoneInfo("Asia/Dhaka")


class Shell:
    """`intrex` for one tenant of the test: a working folder and the environment."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = {k: v for k, v in env.items() if k not in ("BOT_TOKEN", "BOT_USERNAME")}
        self.env |= {"BOT_USERNAME": "intrex_bot", "DATA_DIR": str(cwd / "data")}
        self.cwd = cwd
        self.tenant = f"people-{uuid.uuid4().hex[:8]}"
        self.tenant_id = uuid.UUID(
            self.ok("tenant", "create", self.tenant, "--timezone", "Asia/Dhaka")["id"]
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([*args], self.env, self.cwd)

    def ok(self, *args: str) -> dict[str, Any]:
        """The command's JSON document; it must have succeeded."""
        result = self(*args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        document = as_json(result)
        assert document["ok"] is True
        return document

    def t(self, *args: str) -> list[str]:
        """`args` with this tenant: `command sub --tenant T rest…`."""
        return [args[0], args[1], "--tenant", self.tenant, *args[2:]]

    def refused(self, *args: str, code: int = 1) -> str:
        """The command fails with `code`, a message and no traceback; returns the message,
        having checked that `--json` says the same in one document."""
        with ThreadPoolExecutor(2) as pool:  # both only read: run them side by side
            human_run = pool.submit(self, *args)
            machine_run = pool.submit(self, *args, "--json")
            human, machine = human_run.result(), machine_run.result()
        assert human.returncode == code, human.stdout + human.stderr
        assert "Traceback" not in human.stdout + human.stderr
        assert human.stderr.startswith("Error: "), human.stderr
        message = " ".join(human.stderr.removeprefix("Error: ").split())
        assert machine.returncode == code
        document = as_json(machine)
        assert document["ok"] is False
        assert " ".join(document["error"].split()) == message
        return message

    def branches(self, *codes: str) -> None:
        for code in codes:
            self.ok(*self.t("branch", "create", "--code", code, "--name", f"Branch {code}"))


@pytest.fixture
def shell(server_env: dict[str, str], tmp_path: Path) -> Shell:
    return Shell(server_env, tmp_path)


async def stored_user(db: Database, tenant_id: uuid.UUID, user_id: int) -> tuple[User, list[str]]:
    """The user's row and branch codes as the database holds them now."""
    async with db.tenant_uow(tenant_id) as session:
        user = await session.get_one(User, user_id)
        codes = list(
            await session.scalars(
                select(Branch.code)
                .join(UserBranch, UserBranch.branch_id == Branch.id)
                .where(UserBranch.user_id == user_id)
                .order_by(Branch.code)
            )
        )
    return user, codes


async def actions(db: Database, tenant_id: uuid.UUID, entity_type: str) -> list[str]:
    async with db.tenant_uow(tenant_id) as session:
        return list(
            await session.scalars(
                select(ActivityLog.action)
                .where(ActivityLog.entity_type == entity_type)
                .order_by(ActivityLog.id)
            )
        )


def local(moment: str) -> str:
    """An ISO moment as the human output shows it on Dhaka's wall clock."""
    return f"{datetime.fromisoformat(moment).astimezone(DHAKA):%Y-%m-%d %H:%M} +06"


async def test_invite_list_change_disable_and_enable_a_person(shell: Shell, db: Database) -> None:
    shell.branches("DHK-01", "CTG-02", "SYL-03")
    issued = shell.ok(
        *shell.t(
            "invite",
            "create",
            "--role",
            "Operator",
            "--branch",
            "dhk-01",
            "--branch",
            "CTG-02",
            "--email",
            "Karim@Example.com",
            "--name",
            "Karim  Ahmed",
            "--days",
            "3",
        )
    )
    assert issued["deep_link"] == f"https://t.me/intrex_bot?start={issued['code']}"
    assert (issued["role"], issued["branches"]) == ("operator", ["CTG-02", "DHK-01"])
    assert (issued["email"], issued["name"]) == ("karim@example.com", "Karim Ahmed")
    expires = datetime.fromisoformat(issued["expires_at"])
    assert datetime.fromisoformat(issued["expires_local"]).utcoffset() == DHAKA.utcoffset(expires)
    assert datetime.fromisoformat(issued["expires_local"]) == expires
    person_id = issued["person"]["id"]

    human = shell(*shell.t("invite", "create", "--role", "BRANCH_MANAGER", "--branch", "SYL-03"))
    assert human.returncode == 0, human.stderr
    code = human.stdout.split("code: ")[1].split()[0]
    assert f"link: https://t.me/intrex_bot?start={code}" in human.stdout
    assert "branch manager, SYL-03" in human.stdout
    (shown_expiry,) = [line for line in human.stdout.splitlines() if "expires" in line]
    assert "+06, Asia/Dhaka)" in shown_expiry
    assert "UTC" not in shown_expiry

    listed = shell.ok(*shell.t("user", "list"))
    assert (listed["total"], listed["page"], listed["pages"]) == (2, 1, 1)
    karim = next(p for p in listed["people"] if p["id"] == person_id)
    assert karim["name"] == "Karim Ahmed"
    assert (karim["linked"], karim["telegram"], karim["status"]) == (False, None, "active")
    assert karim["branches"] == ["CTG-02", "DHK-01"]
    assert karim["invite_expires_at"] == issued["expires_at"]
    table = shell(*shell.t("user", "list", "--branch", "DHK-01"))
    assert table.returncode == 0, table.stderr
    (row,) = [line for line in table.stdout.splitlines() if "Karim Ahmed" in line]
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells == [
        str(person_id),
        "Karim Ahmed",
        "operator",
        "CTG-02, DHK-01",
        "active",
        "no",
        "never",
    ]
    assert "Page 1 of 1 (1 in all)." in table.stdout
    by_role = shell.ok(*shell.t("user", "list", "--role", "branch-manager", "--status", "Active"))
    assert [p["branches"] for p in by_role["people"]] == [["SYL-03"]]

    changed = shell.ok(
        *shell.t(
            "user",
            "set",
            "karim@example.com",
            "--role",
            "branch_manager",
            "--branches",
            "SYL-03,ctg-02",
            "--email",
            "KARIM.A@example.com",
            "--name",
            "Karim A.",
            "--language",
            "BN",
        )
    )["person"]
    assert (changed["role"], changed["branches"]) == ("branch_manager", ["CTG-02", "SYL-03"])
    assert (changed["email"], changed["full_name"], changed["language"]) == (
        "karim.a@example.com",
        "Karim A.",
        "bn",
    )
    user, codes = await stored_user(db, shell.tenant_id, person_id)
    assert (user.role.value, user.email, user.full_name, user.language) == (
        "branch_manager",
        "karim.a@example.com",
        "Karim A.",
        "bn",
    )
    assert codes == ["CTG-02", "SYL-03"]

    cleared = shell.ok(
        *shell.t("user", "set", str(person_id), "--email", "", "--name", "", "--language", "")
    )["person"]
    assert (cleared["email"], cleared["full_name"], cleared["language"]) == (None, None, None)
    assert cleared["branches"] == ["CTG-02", "SYL-03"]
    shown = shell(*shell.t("user", "show", str(person_id)))
    assert shown.returncode == 0, shown.stderr
    assert "Telegram: not linked" in shown.stdout
    assert f"open invite: expires {local(issued['expires_at'])}" in shown.stdout
    assert "open obligations owned: 0" in shown.stdout

    off = shell(*shell.t("user", "disable", str(person_id)))
    assert (off.returncode, off.stdout.strip()) == (0, f"Disabled #{person_id}.")
    again = shell.ok(*shell.t("user", "disable", str(person_id)))
    assert (again["changed"], again["person"]["status"]) == (False, "disabled")
    already = shell(*shell.t("user", "disable", str(person_id)))
    assert "already disabled" in already.stdout
    assert (await stored_user(db, shell.tenant_id, person_id))[0].status == "disabled"
    disabled = shell.ok(*shell.t("user", "list", "--status", "disabled"))
    assert [p["id"] for p in disabled["people"]] == [person_id]
    on = shell.ok(*shell.t("user", "enable", str(person_id)))
    assert (on["changed"], on["person"]["status"]) == (True, "active")
    assert "already enabled" in shell(*shell.t("user", "enable", str(person_id))).stdout
    user, codes = await stored_user(db, shell.tenant_id, person_id)
    assert (user.status, codes) == ("active", ["CTG-02", "SYL-03"])

    trail = await actions(db, shell.tenant_id, "user")
    assert trail.count("user.invite") == 2
    assert trail.count("user.update") == 2
    assert trail[-2:] == ["user.disable", "user.enable"]


async def link(db: Database, code: str) -> None:
    """Redeem an invite as the person's Telegram account would."""
    telegram_id = 7_000_000_000 + uuid.uuid4().int % 1_000_000_000
    await redeem_invite(db, code, TelegramIdentity(user_id=telegram_id))


async def test_a_linked_person_is_shown_with_their_telegram_account(
    shell: Shell, db: Database
) -> None:
    shell.branches("DHK-01")
    issued = shell.ok(
        *shell.t("invite", "create", "--role", "operator", "--branch", "DHK-01", "--name", "Karim")
    )
    telegram_id = 7_000_000_000 + uuid.uuid4().int % 1_000_000_000
    await redeem_invite(
        db,
        issued["code"],
        TelegramIdentity(user_id=telegram_id, username="karim_dhk", full_name="Karim Ahmed"),
    )

    shown = shell.ok(*shell.t("user", "show", "@Karim_DHK"))["person"]
    assert (shown["id"], shown["name"], shown["linked"]) == (
        issued["person"]["id"],
        "Karim (@karim_dhk)",
        True,
    )
    assert shown["telegram"] == {
        "user_id": telegram_id,
        "username": "karim_dhk",
        "name": "Karim Ahmed",
    }
    assert shown["invite_expires_at"] is None
    human = shell(*shell.t("user", "show", "@karim_dhk"))
    assert "Telegram: linked: Karim Ahmed (@karim_dhk)" in human.stdout
    assert f"last seen: {local(shown['last_seen_at'])}" in human.stdout
    assert "open invite: none" in human.stdout
    table = shell(*shell.t("user", "list"))
    (row,) = [line for line in table.stdout.splitlines() if "karim_dhk" in line]
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[5:] == ["yes", local(shown["last_seen_at"])]

    assert shell.ok(*shell.t("invite", "list"))["invites"] == []
    (used,) = shell.ok(*shell.t("invite", "list", "--all"))["invites"]
    assert (used["id"], used["state"]) == (issued["invite_id"], "used")
    assert shell.refused(*shell.t("invite", "revoke", issued["invite_id"][:8])) == (
        "This invite is used already: there is nothing to revoke."
    )


async def test_the_last_active_head_office_admin_stays(shell: Shell, db: Database) -> None:
    shell.branches("HQ")
    first = shell.ok(
        *shell.t("invite", "create", "--role", "Head_Office_Admin", "--email", "boss@acme.test")
    )
    admin = first["person"]["id"]
    assert first["person"]["status"] == "active"
    assert first["branches"] == []
    await link(db, first["code"])

    refused = shell.refused(*shell.t("user", "disable", "boss@acme.test"))
    assert refused == (
        "boss@acme.test is the last active head office admin: "
        "make someone else head office admin first."
    )
    demoted = shell.refused(
        *shell.t("user", "set", str(admin), "--role", "operator", "--branches", "HQ")
    )
    assert "is the last active head office admin" in demoted
    user, codes = await stored_user(db, shell.tenant_id, admin)
    assert (user.role.value, user.status, codes) == ("head_office_admin", "active", [])

    pending = shell.ok(
        *shell.t("invite", "create", "--role", "head_office_admin", "--name", "Second")
    )
    still = shell.refused(*shell.t("user", "disable", str(admin)))
    assert "is the last active head office admin" in still, "an invite that may never be used"
    await link(db, pending["code"])
    moved = shell.ok(*shell.t("user", "set", str(admin), "--role", "operator", "--branches", "HQ"))
    assert (moved["person"]["role"], moved["person"]["branches"]) == ("operator", ["HQ"])
    second = shell.ok(*shell.t("user", "list", "--role", "head_office_admin"))["people"]
    assert [p["full_name"] for p in second] == ["Second"]
    last = shell.refused(*shell.t("user", "disable", str(second[0]["id"])))
    assert last.startswith("Second is the last active head office admin")


async def test_open_invites_are_listed_and_revoked_by_prefix(shell: Shell, db: Database) -> None:
    shell.branches("DHK-01")
    kept = shell.ok(*shell.t("invite", "create", "--role", "operator", "--branch", "DHK-01"))
    gone = shell.ok(
        *shell.t(
            "invite",
            "create",
            "--role",
            "operator",
            "--branch",
            "DHK-01",
            "--email",
            "rina@acme.test",
            "--name",
            "Rina",
        )
    )

    listed = shell.ok(*shell.t("invite", "list"))["invites"]
    assert {i["id"] for i in listed} == {kept["invite_id"], gone["invite_id"]}
    assert {(i["state"], i["created_by"], tuple(i["branches"])) for i in listed} == {
        ("open", None, ("DHK-01",))
    }
    table = shell(*shell.t("invite", "list"))
    (row,) = [line for line in table.stdout.splitlines() if "Rina" in line]
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[0] == gone["invite_id"].replace("-", "")[:8]
    assert cells[1:5] == ["Rina", "operator", "DHK-01", "command line"]
    assert cells[6:] == [local(gone["expires_at"]), "open"]

    prefix = gone["invite_id"].replace("-", "")[:6]
    revoked = shell(*shell.t("invite", "revoke", prefix))
    assert revoked.returncode == 0, revoked.stderr
    assert f"Revoked invite {prefix}" in revoked.stdout
    assert "never linked, so they are disabled too" in revoked.stdout
    still_open = shell.ok(*shell.t("invite", "list"))["invites"]
    assert [i["id"] for i in still_open] == [kept["invite_id"]]
    everything = shell.ok(*shell.t("invite", "list", "--all"))["invites"]
    assert [(i["id"], i["state"]) for i in everything] == [
        (kept["invite_id"], "open"),
        (gone["invite_id"], "revoked"),
    ]
    async with db.tenant_uow(shell.tenant_id) as session:
        invite = await session.get_one(InviteCode, uuid.UUID(gone["invite_id"]))
        assert invite.revoked_at is not None
        assert invite.revoked_by_user_id is None
    rina, _ = await stored_user(db, shell.tenant_id, gone["person"]["id"])
    assert rina.status == "disabled"

    assert shell.refused(*shell.t("invite", "revoke", gone["invite_id"])) == (
        "This invite is revoked already: there is nothing to revoke."
    )
    assert shell.refused(*shell.t("invite", "revoke", "abc")) == "No such invite."
    assert "invite.revoke" in await actions(db, shell.tenant_id, "invite_code")


async def test_branch_update_deactivate_and_activate(shell: Shell, db: Database) -> None:
    shell.branches("DHK-01", "CTG-02")
    person = shell.ok(*shell.t("invite", "create", "--role", "operator", "--branch", "DHK-01"))
    person_id = str(person["person"]["id"])

    updated = shell.ok(
        *shell.t(
            "branch",
            "update",
            "--code",
            "ctg-02",
            "--name",
            "Chattogram Port",
            "--city-corporation",
            "chattogram",
            "--region",
            "Chattogram",
        )
    )["branch"]
    assert (updated["name"], updated["city_corporation"], updated["district"]) == (
        "Chattogram Port",
        "Chattogram City Corporation",
        "Chattogram",
    )
    cleared = shell.ok(*shell.t("branch", "update", "--code", "CTG-02", "--city-corporation", ""))[
        "branch"
    ]
    assert (cleared["city_corporation"], cleared["district"], cleared["name"]) == (
        None,
        "Chattogram",
        "Chattogram Port",
    )
    assert shell.refused(*shell.t("branch", "update", "--code", "CTG-02"), code=2).startswith(
        "Usage: intrex branch update"
    )

    off = shell(*shell.t("branch", "deactivate", "--code", "CTG-02"))
    assert off.returncode == 0, off.stderr
    assert off.stdout.startswith("Deactivated branch CTG-02")
    again = shell.ok(*shell.t("branch", "deactivate", "--code", "CTG-02"))
    assert (again["changed"], again["branch"]["status"]) == (False, "inactive")
    assert "already inactive" in shell(*shell.t("branch", "deactivate", "--code", "CTG-02")).stdout
    statuses = {b["code"]: b["status"] for b in shell.ok(*shell.t("branch", "list"))["branches"]}
    assert statuses == {"CTG-02": "inactive", "DHK-01": "active"}
    listed = shell(*shell.t("branch", "list"))
    (row,) = [line for line in listed.stdout.splitlines() if "CTG-02" in line]
    assert row.rstrip(" │").endswith("inactive")

    inactive = "Branch CTG-02 is deactivated: activate it first."
    assert shell.refused(*shell.t("user", "set", person_id, "--branches", "DHK-01,CTG-02")) == (
        inactive
    )
    assert (
        shell.refused(*shell.t("invite", "create", "--role", "operator", "--branch", "CTG-02"))
        == inactive
    )
    assert (await stored_user(db, shell.tenant_id, int(person_id)))[1] == ["DHK-01"]

    on = shell.ok(*shell.t("branch", "activate", "--code", "CTG-02"))
    assert (on["changed"], on["branch"]["status"]) == (True, "active")
    moved = shell.ok(*shell.t("user", "set", person_id, "--branches", "DHK-01,CTG-02"))
    assert moved["person"]["branches"] == ["CTG-02", "DHK-01"]
    async with db.tenant_uow(shell.tenant_id) as session:
        branch = await session.scalar(select(Branch).where(Branch.code == "CTG-02"))
        assert branch is not None
        assert (branch.status, branch.name, branch.city_corporation) == (
            "active",
            "Chattogram Port",
            None,
        )
    trail = await actions(db, shell.tenant_id, "branch")
    assert trail[-4:] == ["branch.update", "branch.update", "branch.deactivate", "branch.activate"]


@pytest.fixture(scope="module")
def karim(target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory) -> tuple[Shell, int]:
    """One tenant for every refusal below (each leaves it as it was): branch HQ and Karim,
    an operator of HQ."""
    env = intrex_env(
        target,
        secret_key=generate_key(),
        DATABASE_ADMIN_URL=target.admin_url.render_as_string(hide_password=False),
    )
    shell = Shell(env, tmp_path_factory.mktemp("refusals"))
    shell.branches("HQ")
    issued = shell.ok(
        *shell.t(
            "invite", "create", "--role", "operator", "--branch", "HQ", "--email", "karim@acme.test"
        )
    )
    return shell, int(issued["person"]["id"])


ROLES = "head_office_admin, branch_manager, operator"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["invite", "create", "--role", "king"],
            f"Unknown role “king”: choose one of {ROLES}.",
        ),
        (["user", "list", "--role", "Queen"], f"Unknown role “Queen”: choose one of {ROLES}."),
        (
            ["user", "set", "karim@acme.test", "--role", "king"],
            f"Unknown role “king”: choose one of {ROLES}.",
        ),
        (
            ["user", "list", "--status", "asleep"],
            "Unknown status “asleep”: choose one of active, disabled.",
        ),
        (
            ["user", "show", "nobody@acme.test"],
            "There is no user “nobody@acme.test” in this tenant: give an id, an email or a "
            "@username.",
        ),
        (
            ["user", "disable", "@ghost"],
            "There is no user “@ghost” in this tenant: give an id, an email or a @username.",
        ),
        (["user", "enable", "999999"], "There is no user “999999” in this tenant"),
        (
            ["invite", "create", "--role", "operator", "--branch", "HQ", "--branch", "NOPE"],
            "There is no branch NOPE.",
        ),
        (["user", "list", "--branch", "nope"], "There is no branch NOPE."),
        (["user", "set", "karim@acme.test", "--branches", "HQ,NOPE"], "There is no branch NOPE."),
        (
            ["invite", "create", "--role", "operator", "--branch", "HQ", "--email", "not-mail"],
            "“not-mail” is not an email address.",
        ),
        (["user", "set", "karim@acme.test", "--email", "a@b"], "“a@b” is not an email address."),
        (
            ["user", "set", "karim@acme.test", "--language", "fr"],
            "Unknown language “fr”: choose en or bn.",
        ),
        (
            ["invite", "create", "--role", "head_office_admin", "--branch", "HQ"],
            "Head office admins act for every branch: leave out the branch.",
        ),
        (["user", "set", "karim@acme.test", "--branches", ""], "needs at least one branch"),
    ],
)
async def test_bad_input_is_refused_with_its_reason(
    karim: tuple[Shell, int], db: Database, args: list[str], message: str
) -> None:
    shell, person_id = karim
    assert message in shell.refused(*shell.t(*args))
    user, codes = await stored_user(db, shell.tenant_id, person_id)
    assert (user.email, user.role.value, user.status, user.language, codes) == (
        "karim@acme.test",
        "operator",
        "active",
        None,
        ["HQ"],
    )


def test_user_set_without_a_change_shows_its_usage(shell: Shell) -> None:
    message = shell.refused(*shell.t("user", "set", "1"), code=2)
    assert message == (
        "Usage: intrex user set --tenant T USER [--role R] [--branches CODE,CODE] [--email E] "
        "[--name N] [--language en|bn]"
    )


def test_json_documents(shell: Shell) -> None:
    shell.branches("HQ")
    issued = shell.ok(
        *shell.t("invite", "create", "--role", "operator", "--branch", "HQ", "--name", "Opu")
    )
    assert set(issued) >= {
        "ok",
        "invite_id",
        "code",
        "deep_link",
        "bot_username",
        "bot_username_problem",
        "role",
        "branches",
        "email",
        "name",
        "expires_at",
        "expires_local",
        "timezone",
        "person",
    }
    assert (issued["bot_username"], issued["bot_username_problem"]) == ("intrex_bot", None)
    person_keys = {
        "id",
        "name",
        "full_name",
        "role",
        "status",
        "email",
        "language",
        "branches",
        "telegram",
        "linked",
        "last_seen_at",
        "invite_expires_at",
        "open_obligations_owned",
        "created_at",
    }
    listed = shell.ok(*shell.t("user", "list", "--page", "1"))
    assert set(listed) == {"ok", "page", "pages", "page_size", "total", "has_more", "people"}
    assert (listed["page_size"], listed["has_more"]) == (50, False)
    assert set(listed["people"][0]) == person_keys
    shown = shell.ok(*shell.t("user", "show", str(issued["person"]["id"])))["person"]
    assert set(shown) == person_keys
    assert shown["open_obligations_owned"] == 0
    assert datetime.fromisoformat(shown["created_at"]).tzinfo is not None
    invites = shell.ok(*shell.t("invite", "list"))["invites"]
    assert set(invites[0]) == {
        "id",
        "state",
        "person",
        "user_id",
        "email",
        "role",
        "branches",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
        "revoked_at",
    }
    revoked = shell.ok(*shell.t("invite", "revoke", issued["invite_id"]))
    assert set(revoked) == {"ok", "invite", "person"}
    assert (revoked["invite"]["state"], revoked["person"]["status"]) == ("revoked", "disabled")
    assert shell.refused(*shell.t("user", "list", "--page", "2")) == "There is no such page."
    empty = shell.ok(*shell.t("user", "list", "--role", "branch_manager"))
    assert (empty["total"], empty["pages"], empty["people"]) == (0, 1, [])


async def test_invite_link_uses_the_bot_username_from_telegram(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    """BOT_TOKEN without BOT_USERNAME: getMe once, then the cache (in DATA_DIR) answers."""
    stub = TelegramStub()
    await stub.start()
    token = "4242:CLI-getMe-SECRET-token"
    data = tmp_path / "data"
    env = {k: v for k, v in server_env.items() if k != "BOT_USERNAME"}
    env |= {"BOT_TOKEN": token, "TELEGRAM_API_URL": stub.base_url, "DATA_DIR": str(data)}
    tenant = f"people-getme-{uuid.uuid4().hex[:8]}"
    outputs: list[str] = []

    async def cli(*args: str, environment: dict[str, str] = env) -> dict[str, Any]:
        code, out, err = await intrex(environment, *args)
        outputs.append(out + err)
        assert code == 0, out + err
        return last_json(out) if "--json" in args else {"human": out}

    try:
        await cli("tenant", "create", tenant)
        await cli("branch", "create", "--tenant", tenant, "--code", "HQ", "--name", "HQ")
        first = await cli(
            "invite", "create", "--tenant", tenant, "--role", "operator", "--branch", "HQ", "--json"
        )
        assert first["deep_link"] == f"https://t.me/{BOT_USERNAME}?start={first['code']}"
        assert first["bot_username"] == BOT_USERNAME
        assert len(stub.sent("getMe")) == 1
        second = await cli("invite", "create", "--tenant", tenant, "--role", "head_office_admin")
        assert f"https://t.me/{BOT_USERNAME}?start=" in second["human"]
        assert "could not be fetched" not in second["human"]
        assert len(stub.sent("getMe")) == 1, "the second invite asked Telegram again"
        cached = json.loads((data / CACHE_FILE).read_text())
        assert cached[token_key(token)]["username"] == BOT_USERNAME
        assert token not in (data / CACHE_FILE).read_text()
        assert token.split(":")[1] not in json.dumps(cached)

        other = "4243:another-SECRET-token"
        stub.fail_next("getMe", 401, "Unauthorized")
        refused = await cli(
            "invite",
            "create",
            "--tenant",
            tenant,
            "--role",
            "head_office_admin",
            environment=env | {"BOT_TOKEN": other},
        )
        assert "https://t.me/<bot>?start=" in refused["human"]
        assert "could not be fetched from Telegram (the Bot API answered HTTP 401: " in " ".join(
            refused["human"].split()
        )
        assert len(stub.sent("getMe")) == 2
        assert token_key(other) not in json.loads((data / CACHE_FILE).read_text())

        nowhere = env | {
            "BOT_TOKEN": other,
            "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}",
        }
        unreachable = await cli(
            "invite",
            "create",
            "--tenant",
            tenant,
            "--role",
            "head_office_admin",
            "--json",
            environment=nowhere,
        )
        assert unreachable["deep_link"].startswith("https://t.me/<bot>?start=")
        assert unreachable["bot_username"] is None
        assert "cannot reach the Bot API" in unreachable["bot_username_problem"]
    finally:
        await stub.stop()
    for output in outputs:
        assert token not in output
        assert other not in output
        assert "SECRET" not in output
