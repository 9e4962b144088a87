"""Group commit of index rows (archive/_commits.py)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from medbridge.archive._commits import CommitQueue
from medbridge.archive.index import Index, patient


def add_patient(pid: str):
    def work(conn):
        conn.execute(patient.insert().values(patient_id=pid))

    return work


class TestCommitQueue:
    def test_batch_with_a_failure_commits_the_others(self, tmp_path):
        """Work queued together is batched; the failing piece fails alone, the rest commit."""
        index = Index(f"sqlite:///{tmp_path / 'index.sqlite'}")
        commits = CommitQueue(index)
        release = threading.Event()

        def blocker(conn):
            release.wait(10)
            add_patient("FIRST")(conn)

        def boom(conn):
            raise ValueError("bad row")

        errors: dict[str, Exception] = {}

        def submit(name, work):
            try:
                commits.run(work)
            except Exception as exc:
                errors[name] = exc

        first = threading.Thread(target=submit, args=("FIRST", blocker))
        first.start()
        time.sleep(0.2)  # the first caller leads a batch now; the rest queue up
        works = {f"P{k}": add_patient(f"P{k}") for k in range(4)} | {"BAD": boom}
        threads = [threading.Thread(target=submit, args=item) for item in works.items()]
        for t in threads:
            t.start()
        time.sleep(0.2)
        release.set()
        for t in [first, *threads]:
            t.join(10)
        with index.read() as conn:
            stored = set(conn.execute(sa.select(patient.c.patient_id)).scalars())
        index.dispose()
        assert stored == {"FIRST", "P0", "P1", "P2", "P3"}
        assert list(errors) == ["BAD"]
        with pytest.raises(ValueError, match="bad row"):
            raise errors["BAD"]
