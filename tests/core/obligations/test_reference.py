"""The built-in reference jurisdictions (SPEC §6): loaded by `migrate`, idempotently; found by
id, code or label in English or Bengali; listed by level."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from importlib import resources

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from core.db.migrate import migrate
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.errors import ErrorCode, NotFoundError
from core.obligations.models import Jurisdiction
from core.obligations.reference import (
    find_jurisdiction,
    list_jurisdictions,
    load_reference_jurisdictions,
    reference_rows,
)
from core.obligations.templates import create_jurisdiction
from core.tenancy.models import Tenant

SHIPPED = 1 + 8 + 64 + 12


async def reference_snapshot(db: Database) -> list[tuple[object, ...]]:
    async with db.system_uow() as session:
        rows = await session.execute(
            select(
                Jurisdiction.id,
                Jurisdiction.code,
                Jurisdiction.level,
                Jurisdiction.country_code,
                Jurisdiction.region,
                Jurisdiction.district,
                Jurisdiction.city_corporation,
                Jurisdiction.label,
                Jurisdiction.label_bn,
            )
            .where(Jurisdiction.code.is_not(None))
            .order_by(Jurisdiction.code)
        )
        return [tuple(row) for row in rows]


def test_the_data_file_holds_bangladesh_as_the_reference_says() -> None:
    rows = reference_rows()
    levels = Counter(row.level for row in rows)
    assert levels == {"country": 1, "division": 8, "district": 64, "city_corporation": 12}
    assert len({row.code for row in rows}) == SHIPPED
    assert len({row.label for row in rows}) == SHIPPED, "labels name one row each"
    assert len({row.label_bn for row in rows}) == SHIPPED
    by_level = {level: {row.code: row for row in rows if row.level == level} for level in levels}
    assert sorted(str(row.region) for row in by_level["division"].values()) == [
        "Barishal",
        "Chattogram",
        "Dhaka",
        "Khulna",
        "Mymensingh",
        "Rajshahi",
        "Rangpur",
        "Sylhet",
    ]
    districts = {row.district: row for row in by_level["district"].values()}
    assert (districts["Cox's Bazar"].region, districts["Bogura"].region) == (
        "Chattogram",
        "Rajshahi",
    )
    assert districts["Jashore"].label_bn == "যশোর জেলা"
    assert districts["Gazipur"].code == "BD-DHA-GAZIPUR"
    dncc = by_level["city_corporation"]["BD-DNCC"]
    assert (dncc.region, dncc.district, dncc.city_corporation) == (
        "Dhaka",
        "Dhaka",
        "Dhaka North City Corporation",
    )
    assert dncc.label_bn == "ঢাকা উত্তর সিটি কর্পোরেশন"
    for row in rows:
        assert row.country_code == "BD"
        assert row.label_bn == unicodedata.normalize("NFC", row.label_bn)
        if row.district is not None:
            assert row.region is not None
        if row.city_corporation is not None:
            assert row.district in districts
            assert districts[row.district].region == row.region


def test_the_data_file_ships_in_the_package() -> None:
    source = resources.files("core.obligations").joinpath("data", "jurisdictions_bd.json")
    assert json.loads(source.read_text(encoding="utf-8"))["country"]["code"] == "BD"


async def test_migrate_loads_the_reference_once(target: DatabaseTarget, db: Database) -> None:
    before = await reference_snapshot(db)
    assert len(before) == SHIPPED
    report = await migrate(target)
    assert report.missing == []
    assert not [line for line in report.done if "reference jurisdictions" in line]
    assert await reference_snapshot(db) == before


async def test_loading_corrects_a_changed_row_and_adds_a_missing_one(
    private_target: DatabaseTarget, private_db: Database
) -> None:
    engine = create_async_engine(private_target.admin_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE jurisdictions SET label_bn = 'ভুল' WHERE code = 'BD-DHA-GAZIPUR'")
            )
            await conn.execute(text("DELETE FROM jurisdictions WHERE code = 'BD-SCC'"))
    finally:
        await engine.dispose()
    report = await migrate(private_target)
    assert "loaded 2 reference jurisdictions" in report.done
    rows = {row[1]: row for row in await reference_snapshot(private_db)}
    assert len(rows) == SHIPPED
    assert rows["BD-DHA-GAZIPUR"][8] == "গাজীপুর জেলা"
    assert rows["BD-SCC"][6] == "Sylhet City Corporation"
    engine = create_async_engine(private_target.admin_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            assert await load_reference_jurisdictions(conn) == 0
            counted = await conn.scalar(text("SELECT count(*) FROM jurisdictions"))
    finally:
        await engine.dispose()
    assert counted == SHIPPED


async def test_request_paths_read_the_reference_and_may_not_change_it(
    db: Database, tenant: Tenant
) -> None:
    async with db.tenant_uow(tenant.id) as session:
        assert (await find_jurisdiction(session, "BD")).level == "country"
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.tenant_uow(tenant.id) as session:
            await session.execute(text("UPDATE jurisdictions SET label = 'x' WHERE code = 'BD'"))


@pytest.mark.parametrize(
    ("reference", "code"),
    [
        ("BD", "BD"),
        ("bd", "BD"),
        ("bd-dha-gazipur", "BD-DHA-GAZIPUR"),
        ("Bangladesh", "BD"),
        ("বাংলাদেশ", "BD"),
        ("dhaka  north city   CORPORATION", "BD-DNCC"),
        ("ঢাকা উত্তর সিটি কর্পোরেশন", "BD-DNCC"),
        ("Dhaka Division", "BD-DHA"),
        (" dhaka district ", "BD-DHA-DHAKA"),
        ("কক্সবাজার জেলা", "BD-CTG-COXS-BAZAR"),
    ],
)
async def test_find_jurisdiction_by_code_or_label(db: Database, reference: str, code: str) -> None:
    async with db.system_uow() as session:
        found = await find_jurisdiction(session, reference)
        assert found.code == code
        assert (await find_jurisdiction(session, str(found.id))).id == found.id


@pytest.mark.parametrize(
    "reference", ["Atlantis", "", "   ", "00000000-0000-0000-0000-000000000000", "BD-XXX"]
)
async def test_an_unknown_jurisdiction_is_not_found(db: Database, reference: str) -> None:
    async with db.system_uow() as session:
        with pytest.raises(NotFoundError) as refused:
            await find_jurisdiction(session, reference)
    assert refused.value.code == ErrorCode.jurisdiction_not_found
    assert refused.value.params == {"value": reference}
    assert reference.strip() in refused.value.message


@pytest.mark.parametrize(
    ("reference", "code"),
    [
        ("Jashore", "BD-KHU-JASHORE"),
        ("যশোর", "BD-KHU-JASHORE"),
        ("dhaka north", "BD-DNCC"),
        ("DNCC", "BD-DNCC"),
        ("Mymensingh Division", "BD-MYM"),
        ("রংপুর সিটি কর্পোরেশন", "BD-RPCC"),
    ],
)
async def test_a_place_name_finds_the_one_row_it_fits(
    db: Database, reference: str, code: str
) -> None:
    async with db.system_uow() as session:
        assert (await find_jurisdiction(session, reference)).code == code


async def test_a_name_of_two_levels_is_refused_with_the_choices(db: Database) -> None:
    async with db.system_uow() as session:
        with pytest.raises(NotFoundError) as refused:
            await find_jurisdiction(session, " dhaka ")
    assert refused.value.code is ErrorCode.jurisdiction_ambiguous
    assert refused.value.message == (
        "“dhaka” names more than one jurisdiction (Dhaka Division, Dhaka District):"
        " give the one you mean."
    )


async def test_a_built_in_row_wins_over_an_added_one_of_the_same_label(db: Database) -> None:
    await create_jurisdiction(db, country_code="BD", label="Gazipur District", district="Gazipur")
    async with db.system_uow() as session:
        found = await find_jurisdiction(session, "gazipur district")
    assert found.code == "BD-DHA-GAZIPUR"


async def test_list_goes_country_division_district_city_corporation(db: Database) -> None:
    await create_jurisdiction(db, country_code="NP", label="Nepal")
    async with db.system_uow() as session:
        listed = await list_jurisdictions(session, " bd ")
        everything = await list_jurisdictions(session, None)
    reference = [row for row in listed if row.code is not None]
    assert [row.level for row in reference] == (
        ["country"] + ["division"] * 8 + ["district"] * 64 + ["city_corporation"] * 12
    )
    assert {row.country_code for row in listed} == {"BD"}
    divisions = [str(row.region) for row in reference if row.level == "division"]
    assert divisions == sorted(divisions)
    districts = [
        (str(row.region), str(row.district)) for row in reference if row.level == "district"
    ]
    assert districts == sorted(districts)
    assert {row.country_code for row in everything} >= {"BD", "NP"}
