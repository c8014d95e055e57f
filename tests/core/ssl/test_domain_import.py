"""`import_domains` on real PostgreSQL: every fault of every row by line, all or nothing.

DNS is a table (`StaticResolver`, wrapped to count lookups and how many run at once), so
the private-target rule is tested without the network; no certificate is checked here,
the rows are registered due now for the scheduler's round.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core.audit.models import ActivityLog
from core.config import Settings
from core.db.enums import AppRole
from core.db.session import Database
from core.errors import ErrorCode, PermissionDeniedError
from core.obligations.importer import ImportRejectedError
from core.ssl.checker import StaticResolver
from core.ssl.importer import import_domains
from core.ssl.models import Domain, SslCheckResult
from core.ssl.service import add_domain
from core.tenancy.models import Tenant
from core.tenancy.scope import ActorUnits, console_unit
from core.tenancy.service import set_branch_active
from tests.companies import new_branch, person

PUBLIC = "93.184.215.14"


class CountingResolver:
    """A DNS table that remembers every lookup and the most that ran at the same time."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = StaticResolver(table)
        self.lookups: list[str] = []
        self.running = 0
        self.most = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.01)
            return await self.table(host, port)
        finally:
            self.running -= 1


PUBLIC_DNS = {"*.example.test": [PUBLIC], "*.intranet.test": ["10.1.2.3", PUBLIC]}


@pytest.fixture
def settings() -> Settings:
    """Public targets only, as in production; three lookups at a time."""
    return Settings(allow_private_targets=False, ssl_timeout_seconds=2, ssl_concurrency=3)


async def run_import(
    db: Database,
    tenant: Tenant,
    text: str | bytes,
    settings: Settings,
    resolver: CountingResolver | None = None,
    now: datetime | None = None,
) -> list[Domain]:
    await import_domains(
        lambda: console_unit(db, tenant.id),
        text,
        settings=settings,
        resolver=resolver or CountingResolver(PUBLIC_DNS),
        now=now,
    )
    return await stored(db, tenant)


async def stored(db: Database, tenant: Tenant) -> list[Domain]:
    async with db.tenant_uow(tenant.id) as session:
        return list(await session.scalars(select(Domain).order_by(Domain.hostname, Domain.port)))


async def rejected(
    db: Database,
    tenant: Tenant,
    text: str | bytes,
    settings: Settings,
    resolver: CountingResolver | None = None,
) -> list[tuple[int, ErrorCode]]:
    """The faults by line; nothing may have been registered."""
    before = len(await stored(db, tenant))
    with pytest.raises(ImportRejectedError) as refused:
        await run_import(db, tenant, text, settings, resolver)
    assert len(await stored(db, tenant)) == before, "all or nothing"
    return [(fault.line, fault.code) for fault in refused.value.errors]


async def test_a_good_file_registers_every_row_due_now_with_one_audit_entry(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    branch = await new_branch(db, tenant, "DHK-01", name="Dhaka")
    text = (
        "\ufeffHostname,Port,Branch_Code\r\n"
        "Shop.Example.Test.,,dhk-01\r\n"
        "api.example.test,8443,\r\n"
        "\r\n"
        "api.example.test:9443,,DHK-01\r\n"
        "api.example.test:443,443,\r\n"
    )
    resolver = CountingResolver(PUBLIC_DNS)
    moment = datetime.now(UTC)
    domains = await run_import(db, tenant, text.encode(), settings, resolver, now=moment)

    assert [(d.hostname, d.port) for d in domains] == [
        ("api.example.test", 443),
        ("api.example.test", 8443),
        ("api.example.test", 9443),
        ("shop.example.test", 443),
    ]
    by_target = {(d.hostname, d.port): d for d in domains}
    assert by_target["shop.example.test", 443].branch_id == branch.id
    assert by_target["api.example.test", 9443].branch_id == branch.id
    assert by_target["api.example.test", 8443].branch_id is None
    assert {d.next_check_at for d in domains} == {moment}, "due now, for the next round"
    assert {d.status for d in domains} == {None}, "no check ran inline"
    assert {d.paused_at for d in domains} == {None}
    assert sorted(resolver.lookups) == ["api.example.test", "shop.example.test"], "once a host"
    async with db.tenant_uow(tenant.id) as session:
        results = await session.scalar(select(func.count()).select_from(SslCheckResult))
        [entry] = await session.scalars(
            select(ActivityLog).where(ActivityLog.action == "domain.import")
        )
    assert results == 0
    assert entry.user_id is None, "the command line acts as no user"
    assert entry.after_json is not None
    assert entry.after_json["count"] == 4
    assert {item["target"] for item in entry.after_json["domains"]} == {
        "shop.example.test",
        "api.example.test:8443",
        "api.example.test:9443",
        "api.example.test",
    }
    assert {item["id"] for item in entry.after_json["domains"]} == {str(d.id) for d in domains}


async def test_every_fault_of_every_row_is_reported_by_line(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    await new_branch(db, tenant, "DHK-01", name="Dhaka")
    await new_branch(db, tenant, "OLD", name="Closed")
    async with console_unit(db, tenant.id) as (session, actor):
        await set_branch_active(session, actor, "OLD", False)
    admin = await person(db, tenant, AppRole.head_office_admin)
    lenient = Settings(allow_private_targets=True, ssl_timeout_seconds=1)
    await add_domain(admin, "taken.example.test:1", settings=lenient, resolver=StaticResolver({}))
    text = "\n".join(
        [
            "hostname,port,branch_code",
            "good.example.test,,DHK-01",  # 2: fine
            "https://bad.example.test,70000,NOPE",  # 3: URL, port range, no branch
            "fine.example.test,x,",  # 4: port not a number
            "a..example.test,,bad code!",  # 5: empty label, bad branch code
            "closed.example.test,,old",  # 6: inactive branch
            "taken.example.test,1,",  # 7: monitored already
            "GOOD.example.test.,443,",  # 8: repeats line 2
            "two.example.test:8443,9443,",  # 9: two ports
            "only,two",  # 10: field count
            "10.0.0.1,,",  # 11: an address, not a name
        ]
    )
    faults = await rejected(db, tenant, text, settings)
    assert faults == [
        (3, ErrorCode.host_is_url),
        (3, ErrorCode.port_out_of_range),
        (3, ErrorCode.branch_not_found),
        (4, ErrorCode.port_not_number),
        (5, ErrorCode.host_label_empty),
        (5, ErrorCode.branch_code_invalid),
        (6, ErrorCode.branch_inactive),
        (7, ErrorCode.domain_exists),
        (8, ErrorCode.import_row_repeated),
        (9, ErrorCode.import_port_twice),
        (10, ErrorCode.import_field_count),
        (11, ErrorCode.host_is_ip),
    ]
    with pytest.raises(ImportRejectedError) as refused:
        await run_import(db, tenant, text, settings)
    message = refused.value.message
    assert message.startswith("Nothing was imported: 9 bad row(s).")
    assert "line 8: repeats line 2" in message
    assert "line 6: Branch OLD is deactivated" in message
    assert "line 7: taken.example.test:1 is already monitored." in message


async def test_the_header_and_the_encoding_are_checked(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    assert await rejected(db, tenant, "", settings) == [(1, ErrorCode.import_file_empty)]
    assert await rejected(db, tenant, "hostname,port\n", settings) == [
        (1, ErrorCode.import_no_rows)
    ]
    assert await rejected(db, tenant, "host,port,notes\nexample.test,,\n", settings) == [
        (1, ErrorCode.import_columns_missing),
        (1, ErrorCode.import_columns_unknown),
    ]
    assert await rejected(db, tenant, "hostname,hostname\na.example.test,b\n", settings) == [
        (1, ErrorCode.import_columns_repeated)
    ]
    # The byte that is not UTF-8 is on line 2: the fault says so.
    assert await rejected(db, tenant, b"hostname\n\xff.example.test\n", settings) == [
        (2, ErrorCode.import_not_utf8)
    ]
    only_host = await run_import(db, tenant, "hostname\nlone.example.test\n", settings)
    assert [(d.hostname, d.port, d.branch_id) for d in only_host] == [
        ("lone.example.test", 443, None)
    ]


async def test_private_targets_are_refused_unless_allowed(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    text = (
        "hostname,port\n"
        "www.example.test,\n"
        "wiki.intranet.test,443\n"
        "wiki.intranet.test,8443\n"
        "unknown.nowhere.test,\n"
    )
    resolver = CountingResolver(PUBLIC_DNS)
    faults = await rejected(db, tenant, text, settings, resolver)
    assert faults == [(3, ErrorCode.host_private), (4, ErrorCode.host_private)]
    assert resolver.lookups.count("wiki.intranet.test") == 1

    allowed = settings.model_copy(update={"allow_private_targets": True})
    domains = await run_import(db, tenant, text, allowed)
    assert len(domains) == 4, "a name that does not resolve yet passes: its checks will say so"


async def test_hosts_are_resolved_concurrently_within_the_bound(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    hosts = [f"h{n}-{uuid.uuid4().hex[:6]}.example.test" for n in range(12)]
    resolver = CountingResolver(PUBLIC_DNS)
    seen: list[tuple[int, int]] = []
    await import_domains(
        lambda: console_unit(db, tenant.id),
        "hostname\n" + "\n".join(hosts) + "\n",
        settings=settings,
        resolver=resolver,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert resolver.most == settings.ssl_concurrency
    assert sorted(resolver.lookups) == sorted(hosts)
    assert seen[0] == (0, 12)
    assert seen[-1] == (12, 12)
    assert len(await stored(db, tenant)) == 12


async def test_only_head_office_imports(db: Database, tenant: Tenant, settings: Settings) -> None:
    branch = await new_branch(db, tenant, "DHK-01", name="Dhaka")
    manager: ActorUnits = await person(db, tenant, AppRole.branch_manager, [branch])
    with pytest.raises(PermissionDeniedError) as refused:
        await import_domains(
            manager,
            "hostname,branch_code\nshop.example.test,DHK-01\n",
            settings=settings,
            resolver=CountingResolver(PUBLIC_DNS),
        )
    assert refused.value.code is ErrorCode.head_office_only
    assert await stored(db, tenant) == []
