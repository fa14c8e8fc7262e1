"""``records list --from/--to`` and ``--text``: the web's date filter and text search, on the
command line, through the same service (the search is audited without its words)."""

from __future__ import annotations

import json

from records.storage import audit
from tests.cli_helpers import run
from tests.test_web import _leo_and_maya


def _searches(installation) -> list[audit.AuditEvent]:  # type: ignore[no-untyped-def]
    with installation.catalog.reading() as session:
        return list(audit.iter_events(session, audit.LogFilter(action="records.searched")))


def test_list_by_dates_and_by_words_in_the_text(installation, tmp_path):
    ids = _leo_and_maya(installation, tmp_path)
    in_2017 = run("list", "--from", "2017-10-01", "--to", "2017-10-31", "--json").json()
    assert [r["id"] for r in in_2017] == [ids["leo"]]
    assert [r["id"] for r in run("list", "--from", "2024-03-04", "--json").json()] == [ids["maya"]]
    assert run("list", "--from", "March").exit_code == 2
    assert run("list", "--from", "2024-03-05", "--to", "2024-03-01").exit_code == 2

    found = run("list", "--text", "FLU absent", "--purpose", "nurse asked", "--json")
    assert found.exit_code == 0, found.stderr
    assert [r["id"] for r in found.json()] == [ids["maya"]]
    table = run("list", "--text", "flu", "--purpose", "nurse asked", "--to", "2020-01-01")
    assert ids["maya"] not in table.stdout and "searched the text of 1 record(s); 0 match" in table.stderr
    no_purpose = run("list", "--text", "flu")
    assert no_purpose.exit_code == 2 and "why you are searching" in no_purpose.stderr
    assert run("list", "--purpose", "curious").exit_code == 2

    searches = _searches(installation)
    assert len(searches) == 2
    assert searches[0].payload == {"purpose": "nurse asked", "read": 2, "matched": [ids["maya"]], "students": ["S1"]}
    assert "flu" not in json.dumps([s.payload for s in searches]).lower()
