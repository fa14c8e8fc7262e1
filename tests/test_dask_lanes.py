"""The Dask task runner (``RECORDS_TASK_RUNNER=dask``): a flow run's lanes run in the
processes of a local Dask cluster, not in the flow's own process, and ingest every file of
the queue exactly once; each lane says in the catalog that it polls while it does, and is
gone from there once the flow run ends.

PostgreSQL only (the multi-process path) and short: a local cluster takes ~15 s to start.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from sqlalchemy import select

from records.storage.models import IntakeJob
from tests.conftest import POSTGRES_URL
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf, png_scan

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="the Dask lanes test needs PostgreSQL (RECORDS_TEST_POSTGRES_URL)"),
    pytest.mark.usefixtures("prefect_server"),
]


def test_dask_lanes_ingest_each_file_once_in_their_own_processes(installation, tmp_path, monkeypatch):
    if installation.catalog.is_sqlite:
        pytest.skip("the Dask path is the multi-process one: PostgreSQL")
    from records.flows import claimed
    from records.storage import intake_queue as queue

    monkeypatch.setenv("RECORDS_TASK_RUNNER", "dask")
    monkeypatch.setenv("RECORDS_DASK_WORKERS", "2")
    monkeypatch.delenv("RECORDS_LANES", raising=False)
    monkeypatch.setenv("RECORDS_EXTRACT_WORKERS", "1")  # task_runner sets it in os.environ: restored after the test
    folder = tmp_path / "pile"
    folder.mkdir()
    for n in range(6):
        born_digital_pdf(folder / f"note-{n}.pdf", [[*EMAIL_PAGE[:4], f"Printed note number {n}."]])
    png_scan(folder / "scan.png", [*EMAIL_PAGE[:6], "Scanned note."], dpi=150)
    (folder / "copy.pdf").write_bytes((folder / "note-0.pdf").read_bytes())

    result = claimed.queued_ingest_flow([str(folder)], home=str(installation.paths.home), batch_size=1)

    assert result["counts"] == {"ingested": 7, "partial": 0, "duplicate": 1, "quarantined": 0, "failed": 0}
    with installation.catalog.reading() as session:
        assert queue.counts(session) == {"waiting": 0, "claimed": 0, "done": 8, "failed": 0}
        workers = Counter(session.execute(select(IntakeJob.worker)).scalars())
        assert queue.lanes_polling(session) == 0  # each lane removed its row when it stopped
    pids = {int(w.split(":")[1]) for w in workers}
    assert os.getpid() not in pids  # the lanes ran in the Dask worker processes
    assert sum(workers.values()) == 8
