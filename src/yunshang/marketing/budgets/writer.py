"""Group commit for the embedded guard's hold rows: many holds, one transaction.

A hold's row must be committed before its id is handed out (a hold survives
``kill -9``). One commit per hold, one at a time under the guard's lock, caps a
server at a few hundred bids a second. :class:`HoldWriter` has one thread that
takes every row queued since its last commit and in the ``linger_s`` after the
first (up to ``batch_max``), inserts them
in one statement (:func:`~yunshang.kernel.sql.insert_many`: little Python per row,
so the thread needs the GIL little) and commits, then resolves each row's future: with the result
once the transaction holding it has committed, or with what that transaction
raised (then none of the batch's rows is in the database).

:meth:`HoldWriter.write` waits for its row's commit (a hold's usual contract);
:meth:`HoldWriter.submit` returns the future, for a caller that waits later —
the OpenRTB bidder decides in the event loop and awaits its holds' futures
before it answers (:meth:`.service.SqlSpendGuard.deferred`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

from yunshang.kernel.db import Database
from yunshang.kernel.sql import insert_many

from .store import ad_holds

log = logging.getLogger(__name__)

_Item = tuple[dict[str, Any], "Future[None]"]


class HoldWriter:
    """Inserts ``ad_holds`` rows in group commits on its own thread (module doc)."""

    def __init__(self, db: Database, *, batch_max: int = 512, linger_s: float = 0.001) -> None:
        self.db = db
        self.batch_max = batch_max
        # After the first row, wait this long for company: fewer, bigger commits, and
        # fewer times the thread takes the GIL from a busy event loop.
        self.linger_s = linger_s
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._pending: dict[str, Future[None]] = {}  # hold id → its row's commit
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self.batches = 0  # commits made (figures, tests)
        self.rows = 0

    def submit(self, row: dict[str, Any]) -> Future[None]:
        """Queues ``row`` (every ``ad_holds`` column); the future resolves on its commit."""
        future: Future[None] = Future()
        self._pending[row["id"]] = future
        self._ensure_running()
        self._queue.put((row, future))
        return future

    def write(self, row: dict[str, Any]) -> None:
        """Inserts ``row`` and returns once it is committed (raises what the commit raised)."""
        self.submit(row).result()

    def settled(self, hold_id: str) -> None:
        """Waits until the hold's row is committed or refused, if it is still queued
        (a charge or release must find the row its id promises)."""
        future = self._pending.get(hold_id)
        if future is not None:
            future.exception()  # waits; a refused row is simply not there

    def stop(self) -> None:
        """Commits what is queued, then ends the thread (the next submit starts it again)."""
        with self._starting:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=10)

    def _ensure_running(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._starting:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ad-hold-writer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            if self.linger_s > 0:
                time.sleep(self.linger_s)
            while len(batch) < self.batch_max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[_Item]) -> None:
        error: Exception | None = None
        try:
            with self.db.unit_of_work() as uow:
                insert_many(uow.conn, ad_holds, [row for row, _ in batch])
                uow.commit()
        except Exception as exc:  # each caller of the batch gets it
            log.warning("ad hold batch of %d not written: %s", len(batch), exc)
            error = exc
        else:
            self.batches += 1
            self.rows += len(batch)
        for row, future in batch:
            self._pending.pop(row["id"], None)
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
