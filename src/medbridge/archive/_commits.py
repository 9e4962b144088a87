"""Group commit: the index rows of concurrent stores share one transaction.

A C-STORE success waits for its index row to be committed, and a durable commit costs
one flush of the disk (SQLite ``synchronous=FULL``, PostgreSQL ``fsync``): a few
milliseconds that dominate a store. When several associations store at once, one
writer thread takes every row waiting at that moment and commits them together, so
four associations pay for one flush instead of four (DESIGN.md principle 2 allows it:
each store still returns only after its own row is committed).

A batch is all or nothing in SQL; if it fails, each of its pieces of work is retried
in a transaction of its own, so one bad row fails alone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from medbridge.archive.index import Index

__all__ = ["CommitQueue"]

LOGGER = logging.getLogger(__name__)

Work = Callable[[Connection], None]

#: Most pieces of work in one transaction; bounds the time a batch holds row locks.
MAX_BATCH = 64


class CommitQueue:
    """A writer thread that commits queued index writes in batches.

    Parameters
    ----------
    index:
        The index to write to; its `Index.write` transaction (and SQLite write lock) is
        used for each batch.
    """

    def __init__(self, index: Index) -> None:
        self.index = index
        self._queue: queue.SimpleQueue[tuple[Work, Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="medbridge-commit", daemon=True)
        self._thread.start()

    def run(self, work: Work) -> None:
        """Run `work` in a committed transaction; return once it is durable.

        Raises
        ------
        Exception
            Whatever `work` or the commit raised (SQLAlchemy errors included).
        """
        done: Future[None] = Future()
        self._queue.put((work, done))
        done.result()

    def close(self) -> None:
        """Finish the queued work and stop the writer thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Work, Future[None]]]) -> None:
        try:
            with self.index.write() as conn:
                for work, _done in batch:
                    work(conn)
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            LOGGER.debug("batch of %d failed (%s); committing one by one", len(batch), exc)
            for item in batch:
                self._commit([item])
            return
        for _work, done in batch:
            done.set_result(None)
