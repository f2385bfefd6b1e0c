"""A synthetic, realistic event history written into the outbox (``yunshang analytics seed``).

For demos and benchmarks: ingestion then reads it like any other history. One
merchant (tenant) sells a few phone models on marketplaces and its own store through
daily flash sales; orders go created → paid → shipped → delivered → completed, with
payment timeouts and refunds; shipped phones are sold devices, most of them activated
a few hours after delivery; activated phones send telemetry whose volume follows the
hour of the day (Beijing evenings), the weekday and each phone's decay of interest
over the weeks (so retention cohorts churn); they install a dozen apps of long-tail
popularity, and move to new OS versions over days after each OTA release. Ad
impressions, clicks and QR scans of a few campaigns lead to part of the orders.

Payloads carry exactly the fields and types the real contexts publish
(docs/events.md). Everything is drawn from one ``numpy`` generator seeded with
``seed`` (event ids included: time-sortable like :func:`yunshang.kernel.ids.new_id`),
so a seed and a ``now`` give the same history; generation is vectorised per event
type, and the rows are appended with :func:`yunshang.kernel.outbox.write_raw` in
chunks, oldest first. The history is cut at ``now``: an order's later steps that
would fall after it have not happened yet. Telemetry fills the event budget so that
exactly ``events`` events are written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from yunshang.kernel.db import Database
from yunshang.kernel.outbox import write_raw

from . import seed_phones, seed_world
from .seed_world import DAY, US, History, make_ids

CHUNK = 100_000

@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_history` wrote, and how long generating and writing took."""

    events: int
    by_name: dict[str, int]
    first: datetime
    last: datetime
    generate_s: float
    write_s: float


def seed_history(db: Database, *, events: int, now: datetime, tenant: str = "meizu",
                 days: int = 90, seed: int = 2026,
                 progress: Callable[[str, int, int], None] | None = None) -> SeedReport:
    """Writes exactly ``events`` events of a ``days``-day history ending at ``now`` into
    the outbox. ``progress(phase, done, total)`` is told how far it is."""
    started = time.perf_counter()
    if progress:
        progress("generating", 0, events)
    rng = np.random.default_rng(seed)
    end = int(now.timestamp() * US)
    history = generate(rng, events=events, start=end - days * DAY, end=end,
                             tenant=tenant)
    times, names, payloads = history.merged()
    order = np.argsort(times, kind="stable")
    times, names, payloads = times[order], names[order], payloads[order]
    ids = make_ids("evt", times, rng)
    stamps = np.datetime_as_string(times.astype("datetime64[us]"), unit="us")
    generated = time.perf_counter()
    written = 0
    for begin in range(0, len(times), CHUNK):
        stop = min(begin + CHUNK, len(times))
        rows = [(i, history.names[n], 1, tenant, t.replace("T", " "), p)
                for i, n, t, p in zip(ids[begin:stop].tolist(), names[begin:stop].tolist(),
                                      stamps[begin:stop].tolist(),
                                      payloads[begin:stop].tolist(), strict=True)]
        with db.unit_of_work() as uow:
            write_raw(uow.conn, rows, postgres=db.is_postgres)
            uow.commit()
        written = stop
        if progress:
            progress("writing", written, len(times))
    counts = np.bincount(names, minlength=len(history.names))
    return SeedReport(
        events=written,
        by_name={n: int(c) for n, c in zip(history.names, counts.tolist(), strict=True) if c},
        first=datetime.fromtimestamp(int(times[0]) / US, tz=now.tzinfo),
        last=datetime.fromtimestamp(int(times[-1]) / US, tz=now.tzinfo),
        generate_s=generated - started, write_s=time.perf_counter() - generated)


def generate(rng: np.random.Generator, *, events: int, start: int, end: int,
             tenant: str) -> History:
    """The whole history: everything but telemetry scaled from ``events``, then
    telemetry for exactly the rest of the budget."""
    h = History()
    cat = seed_world.catalogue(h, rng, start, end)
    o = seed_world.orders(h, rng, cat, count=max(20, events // 85), start=start, end=end,
                          tenant=tenant)
    phones = seed_phones.devices(h, rng, cat, o, end=end, tenant=tenant)
    seed_phones.ota(h, rng, phones, start=start, end=end)
    seed_phones.apps(h, rng, phones, end=end)
    seed_world.marketing(h, rng, cat, o, impressions=max(50, events // 8), start=start, end=end,
              tenant=tenant)
    rest = events - h.count()
    if rest < 0 or (rest > 0 and len(phones.activated) == 0):
        raise ValueError(f"{events} events are too few for this history; try more events "
                         f"or fewer days")
    seed_phones.telemetry(h, rng, phones, count=rest, end=end)
    return h
