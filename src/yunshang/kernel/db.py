"""Database access: engines for SQLite (WAL) and PostgreSQL, and the unit of work.

Every context declares its tables on :data:`metadata` (defined in
:mod:`.sql`, re-exported here) so that one Alembic history covers the whole
OLTP schema. Use cases open a :class:`UnitOfWork`,
do their reads and writes on ``uow.conn``, record domain events with
``uow.publish`` and call ``uow.commit()``: the events reach the outbox in the
same transaction as the state they describe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from yunshang.files import private_dir, private_file

from .events import DomainEvent
from .outbox import write_events
from .sql import BigSerial, insert_many, json_insert_sql, json_text, metadata

__all__ = ["BigSerial", "Database", "UnitOfWork", "insert_many", "json_insert_sql", "json_text",
           "metadata"]

class Database:
    """One engine plus the dialect facts the rest of the code needs."""

    def __init__(self, url: str, *, pool_size: int = 20, echo: bool = False) -> None:
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        if self.is_postgres and parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(False))
        kwargs: dict[str, Any] = {"echo": echo, "future": True,
                                  "json_serializer": json_text, "json_deserializer": orjson.loads}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                # owner-only, whatever the umask; SQLite gives its -wal and -shm files
                # the database file's mode
                private_dir(Path(parsed.database).parent)
                private_file(Path(parsed.database))
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            # A pooled connection a database restart broke is found at check-out and
            # replaced, never handed to a request.
            kwargs["pool_pre_ping"] = True
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    def unit_of_work(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self, readonly=readonly)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A short read-only transaction."""
        with UnitOfWork(self, readonly=True) as uow:
            yield uow.conn

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook choose the BEGIN flavour below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (the OS keeps the pages);
        # only a power cut can lose the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock up front: a deferred transaction that later
        # upgrades to write fails with SQLITE_BUSY instead of waiting.
        readonly = conn.info.get("readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class UnitOfWork:
    """One transaction; events published on it are written to the outbox on commit."""

    def __init__(self, db: Database, *, readonly: bool = False) -> None:
        self.db = db
        self.readonly = readonly
        self.events: list[DomainEvent] = []
        self._after_commit: list[Callable[[], None]] = []
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.conn = self.db.engine.connect()
        self.conn.info["readonly"] = self.readonly
        self.conn.begin()
        return self

    def publish(self, *events: DomainEvent) -> None:
        self.events.extend(events)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Runs ``hook`` once the transaction has committed (side effects)."""
        self._after_commit.append(hook)

    def commit(self) -> None:
        if self.events:
            write_events(self.conn, self.events, postgres=self.db.is_postgres)
            self.events = []
        self.conn.commit()
        self._committed = True
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            hook()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self.conn.rollback()
        finally:
            self.conn.info["readonly"] = False
            self.conn.close()
