"""`intrex report` as head office runs it: a real process against the seeded company.

The company is `tests.core.reports.test_report.seed_acme`, whose scores are computed by
hand there; here `--json` must carry the same ranking and lists, the text must show them,
`--chart` must write a valid PNG in either language, and bad options are refused.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from core.db.session import Database
from core.reports.chart import HEIGHT_PX, WIDTH_PX
from tests.cli.test_cli import as_json, run, server_env
from tests.core.reports.test_report import RANKING, seed_acme

__all__ = ["server_env"]
"""`server_env` is test_cli's fixture, used here as it is there."""


async def test_the_report_in_json_text_and_chart(
    server_env: dict[str, str], tmp_path: Path, db: Database
) -> None:
    acme = await seed_acme(db)
    tenant = acme.tenant.name
    chart = tmp_path / "health.png"
    done = run(
        ["report", "--tenant", tenant, "--json", "--chart", str(chart)], server_env, tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document = as_json(done)
    assert document["ok"] is True
    assert document["tenant"] == tenant
    assert [(row["code"], row["score"]) for row in document["branches"]] == RANKING
    assert document["overdue"]["total"] == 4
    assert document["due_soon"]["total"] == 13
    assert document["certificates_at_risk"]["total"] == 4
    assert document["unacknowledged_alerts"]["total"] == 3
    assert [
        (w["branch_code"], w["reason"], w["waived_by"]) for w in document["waivers"]["items"]
    ] == [
        ("CTG-02", "Shop closed for renovation", "Karim Ahmed"),
        ("BAR-05", "Filed by the landlord", None),
    ]
    assert {c["category"]: c["due_soon"] for c in document["categories"]}[
        "inspection_renewal"
    ] == 12
    assert document["chart"] == {
        "path": str(chart),
        "bytes": chart.stat().st_size,
        "language": "en",
    }
    png = chart.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(png)).size == (WIDTH_PX, HEIGHT_PX)

    text = run(["report", "--tenant", tenant], server_env, tmp_path)
    assert text.returncode == 0, text.stderr
    out = " ".join(text.stdout.split())
    for shown in (
        "KHL-04",
        "66",
        "Overdue: 4",
        "Fire certificate (critical, fire safety): overdue by 45 days",
        "Due within 7 days: 13",
        "Certificates at risk: 4",
        "hq.acme.test (head office): expired (Expired 10 days ago)",
        "Unacknowledged alerts: 3",
        "Waivers in the last 30 days: 2",
        "by Karim Ahmed: Shop closed for renovation",
        "by the command line: Filed by the landlord",
    ):
        assert shown in out, shown
    assert out.index("KHL-04") < out.index("DHK-01") < out.index("CTG-02")

    bengali = tmp_path / "bn.png"
    one = run(
        [
            "report",
            "--tenant",
            tenant,
            "--branch",
            "dhk-01",
            "--chart",
            str(bengali),
            "--language",
            "bn",
            "--json",
        ],
        server_env,
        tmp_path,
    )
    assert one.returncode == 0, one.stdout + one.stderr
    single = as_json(one)
    assert single["branch"] == "DHK-01"
    assert [(row["code"], row["score"]) for row in single["branches"]] == [("DHK-01", 74)]
    assert Image.open(io.BytesIO(bengali.read_bytes())).size == (WIDTH_PX, HEIGHT_PX)


async def test_bad_options_are_refused(
    server_env: dict[str, str], tmp_path: Path, db: Database
) -> None:
    acme = await seed_acme(db)
    tenant = acme.tenant.name
    unknown = run(
        ["report", "--tenant", tenant, "--branch", "ZZZ-99", "--json"], server_env, tmp_path
    )
    assert unknown.returncode == 1
    assert as_json(unknown) == {"ok": False, "error": "There is no branch ZZZ-99."}
    language = run(
        ["report", "--tenant", tenant, "--language", "fr", "--json"], server_env, tmp_path
    )
    assert language.returncode == 1
    assert "choose en or bn" in as_json(language)["error"]
