"""Group commit: the index rows of concurrent stores share one transaction.

A C-STORE success waits for its index row to be committed, and a durable commit costs
one flush of the disk (SQLite ``synchronous=FULL``, PostgreSQL ``fsync``): a few
milliseconds that dominate a store. When several associations store at once, the
rows waiting at that moment are committed together, so
four associations pay for one flush instead of four (DESIGN.md principle 2 allows it:
each store still returns only after its own row is committed). The leader of a batch
is one of the waiting callers, not a thread of its own.

A batch is all or nothing in SQL; if it fails, each of its pieces of work is retried
in a transaction of its own, so one bad row fails alone.
"""

from __future__ import annotations

import logging
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
    """Commits index writes of concurrent callers in batches, leader/follower style.

    A caller that finds no commit in progress commits at once, in its own thread, its
    work and whatever else is waiting (no thread hop for a lone association); callers
    arriving meanwhile wait and are committed together by the next leader.

    Parameters
    ----------
    index:
        The index to write to; its `Index.write` transaction (and SQLite write lock) is
        used for each batch.
    """

    def __init__(self, index: Index) -> None:
        self.index = index
        self._cond = threading.Condition()
        self._pending: list[tuple[Work, Future[None]]] = []
        self._leading = False

    def run(self, work: Work) -> None:
        """Run `work` in a committed transaction; return once it is durable.

        Raises
        ------
        Exception
            Whatever `work` or the commit raised (SQLAlchemy errors included).
        """
        done: Future[None] = Future()
        with self._cond:
            self._pending.append((work, done))
        while True:
            with self._cond:
                while self._leading and not done.done():
                    self._cond.wait()
                if done.done():
                    break
                self._leading = True
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        done.result()

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
