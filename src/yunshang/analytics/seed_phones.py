"""The synthetic merchant's phones for :mod:`yunshang.analytics.seed`: activations,
OS updates, app installs and telemetry, drawn from the orders of :mod:`.seed_world`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .seed_world import (
    CRASHES,
    DAY,
    HOUR,
    MODELS,
    PACKAGES,
    POPULARITY,
    US,
    WEEKDAY,
    Catalogue,
    History,
    Orders,
    hour_of_day,
    id_list,
    iso,
    q,
)


@dataclass
class Phones:
    """Activated phones."""

    device_id: list[str]
    imei: list[str]
    model: np.ndarray
    account: list[str]
    activated: np.ndarray
    updates: np.ndarray  # (phone, release): when it moved to that version, or a huge value


def devices(h: History, rng: np.random.Generator, cat: Catalogue, o: Orders, *, end: int,
            tenant: str) -> Phones:
    """Every shipped unit is a sold device; most are activated after delivery."""
    u = o.units
    n = len(u.order)
    shipped = o.shipped[u.order]
    device_ids = id_list("dev", shipped - 30 * DAY, rng)
    buyers = [f"usr_{tenant[:3]}{b:07d}" for b in o.buyer[u.order].tolist()]
    skus = [cat.sku_ids[k] for k in o.sku[u.order].tolist()]
    orders = [o.ids[i] for i in u.order.tolist()]
    names = [MODELS[m][0] for m in u.model.tolist()]
    h.emit("devices.device_sold", shipped, [
        f'{{"device_id":{q(d)},"imei":{q(i)},"model":{q(m)},"state":"sold",'
        f'"order_id":{q(oid)},"buyer_id":{q(b)},"sku_id":{q(k)}}}'
        for d, i, m, oid, b, k in zip(device_ids, u.imei.tolist(), names, orders, buyers, skus,
                                      strict=True)])
    delivered = o.delivered[u.order]
    hours = rng.lognormal(np.log(5.0), 1.0, size=n)
    activated = delivered + (hours * HOUR).astype(np.int64)
    keeps = (delivered >= 0) & (o.refunded[u.order] < 0) & (rng.random(n) < 0.92) & (
        activated <= end)
    rows = np.flatnonzero(keeps)
    accounts = [f"acc_{tenant[:3]}{b:07d}" for b in o.buyer[u.order].tolist()]
    sold_at = iso(shipped)
    h.emit("devices.device_activated", activated[rows], [
        f'{{"device_id":{q(device_ids[i])},"imei":{q(u.imei[i])},"model":{q(names[i])},'
        f'"state":"activated","account_id":{q(accounts[i])},"order_id":{q(orders[i])},'
        f'"buyer_id":{q(buyers[i])},"sku_id":{q(skus[i])},"sold_at":"{sold_at[i]}"}}'
        for i in rows.tolist()])
    return Phones([device_ids[i] for i in rows.tolist()], [u.imei[i] for i in rows.tolist()],
                  u.model[rows], [accounts[i] for i in rows.tolist()], activated[rows],
                  np.empty((len(rows), 0), dtype=np.int64))


def versions(model: int) -> list[str]:
    """A model's OS versions: the one it ships with, then two OTA releases."""
    major, minor, _ = (int(x) for x in MODELS[model][3].split("."))
    return [f"{major}.{minor}.0", f"{major}.{minor + 1}.0", f"{major + 1}.0.0"]


def ota(h: History, rng: np.random.Generator, p: Phones, *, start: int, end: int) -> None:
    """Two releases per model, at 30 % and 70 % of the history; phones take each one a
    few days after it is offered (or after their activation), a few fail."""
    n = len(p.activated)
    released = [start + (end - start) * 3 // 10, start + (end - start) * 7 // 10]
    rollout_ids = id_list("rol", np.repeat(released, len(MODELS)), rng)
    release_ids = id_list("rel", np.repeat(released, len(MODELS)) - DAY, rng)
    level = np.zeros(n, dtype=np.int64)  # index into versions(model)
    last = p.activated.copy()
    never = np.iinfo(np.int64).max // 2
    p.updates = np.full((n, len(released)), never, dtype=np.int64)
    names = [MODELS[m][0] for m in p.model.tolist()]
    for r, at in enumerate(released):
        offered = np.maximum(at, p.activated)
        when = np.maximum(offered + rng.exponential(2.5 * DAY, n).astype(np.int64), last + HOUR)
        takes = (rng.random(n) < 0.93) & (when <= end)
        success = rng.random(n) < 0.97
        stage = np.where(when < at + 2 * DAY, 0, np.where(when < at + 5 * DAY, 1, 2))
        rows = np.flatnonzero(takes)
        vs = [versions(m) for m in p.model.tolist()]
        h.emit("devices.update_reported", when[rows], [
            f'{{"rollout_id":{q(rollout_ids[r * len(MODELS) + p.model[i]])},'
            f'"release_id":{q(release_ids[r * len(MODELS) + p.model[i]])},'
            f'"device_id":{q(p.device_id[i])},"imei":{q(p.imei[i])},"model":{q(names[i])},'
            f'"from_version":{q(vs[i][level[i]])},"to_version":{q(vs[i][r + 1])},'
            f'"success":{"true" if success[i] else "false"},'
            f'"detail":{"null" if success[i] else q("tuf: target hash mismatch")},'
            f'"stage":{stage[i]}}}' for i in rows.tolist()])
        moved = np.flatnonzero(takes & success)
        h.emit("devices.os_updated", when[moved] + US, [
            f'{{"device_id":{q(p.device_id[i])},"imei":{q(p.imei[i])},"model":{q(names[i])},'
            f'"state":"activated","from_version":{q(vs[i][level[i]])},'
            f'"to_version":{q(vs[i][r + 1])}}}' for i in moved.tolist()])
        p.updates[moved, r] = when[moved] + US
        level[moved] = r + 1
        last[moved] = when[moved]


def apps(h: History, rng: np.random.Generator, p: Phones, *, end: int) -> None:
    """A few apps per phone, by popularity; some updated, some removed later."""
    n = len(p.activated)
    per_phone = np.minimum(rng.poisson(3.0, n) + 2, len(PACKAGES))
    noise = rng.gumbel(size=(n, len(PACKAGES))) + np.log(POPULARITY)
    picks = np.argsort(-noise, axis=1)  # top-k of a Gumbel-perturbed popularity
    phone = np.repeat(np.arange(n), per_phone)
    rank = np.concatenate([np.arange(k) for k in per_phone.tolist()]) if n else np.array([], int)
    package = picks[phone, rank]
    installed = p.activated[phone] + rng.exponential(1.5 * DAY, len(phone)).astype(np.int64)
    base = 100 + package * 7
    install_ids = id_list("ins", installed, rng)
    app_ids = id_list("app", np.full(len(PACKAGES), int(p.activated.min(initial=0))), rng)
    names = [MODELS[m][0] for m in p.model.tolist()]

    def device(i: int) -> str:
        m = int(p.model[i])
        return (f'"device_id":{q(p.device_id[i])},"imei":{q(p.imei[i])},'
                f'"model":{q(names[i])},"state":"activated","api_level":{MODELS[m][2]}')

    def body(j: int, install: str, code: int) -> str:
        k = int(package[j])
        return (f'{device(int(phone[j]))},"install_id":{q(install)},"app_id":{q(app_ids[k])},'
                f'"package":{q(PACKAGES[k][0])},"developer":{q(PACKAGES[k][1])},'
                f'"version_code":{code}')

    first = np.flatnonzero(installed <= end)
    h.emit("devices.app_installed", installed[first], [
        f'{{{body(j, install_ids[j], int(base[j]))},"previous_version_code":null}}'
        for j in first.tolist()])
    updated = installed + rng.integers(3 * DAY, 30 * DAY, len(phone))
    updates = np.flatnonzero((rng.random(len(phone)) < 0.3) & (updated <= end))
    update_ids = id_list("ins", updated[updates], rng)
    h.emit("devices.app_installed", updated[updates], [
        f'{{{body(j, update_ids[x], int(base[j]) + 1)},"previous_version_code":{base[j]}}}'
        for x, j in enumerate(updates.tolist())])
    removed = installed + rng.exponential(10 * DAY, len(phone)).astype(np.int64)
    removes = np.flatnonzero((rng.random(len(phone)) < 0.2) & (removed <= end)
                             & ~np.isin(np.arange(len(phone)), updates))
    h.emit("devices.app_uninstalled", removed[removes], [
        f'{{{body(j, install_ids[j], int(base[j]))}}}' for j in removes.tolist()])



def telemetry(h: History, rng: np.random.Generator, p: Phones, *, count: int, end: int) -> None:
    """Exactly ``count`` telemetry events: sessions (an app or a few, opened and closed,
    then the screen-on session; now and then a crash) spread over each phone's days
    since activation, by weekday and hour, each phone losing interest at its own pace."""
    n = len(p.activated)
    if count <= 0 or n == 0:
        return
    first_day = p.activated // DAY
    span = (end // DAY) - first_day + 1
    phone = np.repeat(np.arange(n), span)
    age = np.concatenate([np.arange(k) for k in span.tolist()])
    day = first_day[phone] + age
    # interest halves every few weeks for most, a loyal fifth keeps using the phone
    loyal = rng.random(n) < 0.2
    weeks = np.where(loyal, 40.0, rng.lognormal(np.log(2.5), 0.6, n))
    engagement = rng.lognormal(0, 0.5, n)
    weight = (engagement[phone] * np.exp(-age / (7 * weeks[phone]))
              * WEEKDAY[(day + 3) % 7])  # 1970-01-01 was a Thursday
    # events per session: the session itself, open+close per app, a crash in 3 %
    guess = count // 3 + 16
    apps_in = np.minimum(rng.poisson(1.0, guess) + 1, 4)
    crashed = rng.random(guess) < 0.03
    sizes = 1 + 2 * apps_in + crashed
    sessions = int(np.searchsorted(np.cumsum(sizes), count) + 1)
    apps_in, crashed, sizes = apps_in[:sessions], crashed[:sessions], sizes[:sessions]
    cell = rng.choice(len(weight), size=sessions, p=weight / weight.sum())
    who = phone[cell]
    begin = day[cell] * DAY + hour_of_day(rng, sessions)
    low = np.maximum(p.activated[who], day[cell] * DAY)
    high = np.minimum(end, day[cell] * DAY + DAY) - 10 * 60 * US
    outside = (begin < low) | (begin > high)
    begin = np.where(outside, low + (rng.random(sessions) * np.maximum(high - low, 1)).astype(
        np.int64), begin)
    # each app: foreground time, then a short gap before the next
    slots = int(apps_in.sum())
    session_of = np.repeat(np.arange(sessions), apps_in)
    stay = (rng.lognormal(np.log(90.0), 1.0, slots) * US).astype(np.int64).clip(US, 3 * HOUR)
    gap = rng.integers(US, 20 * US, slots)
    offset = np.cumsum(stay + gap) - (stay + gap)
    first_slot = np.cumsum(apps_in) - apps_in
    offset -= offset[first_slot][session_of]
    opened = begin[session_of] + offset
    closed = opened + stay
    package = rng.choice(len(PACKAGES), size=slots, p=POPULARITY / POPULARITY.sum())
    ended = np.maximum.reduceat(closed, first_slot) + rng.integers(US, 30 * US, sessions)
    late = np.maximum(ended - end, 0)  # a session running past now happened a bit earlier
    ended, begin = ended - late, begin - late
    opened, closed = opened - late[session_of], closed - late[session_of]

    table = np.array([versions(m) for m in range(len(MODELS))], dtype=object)

    def version(phones: np.ndarray, when: np.ndarray) -> list[str]:
        level = (p.updates[phones] <= when[:, None]).sum(axis=1)
        return list(table[p.model[phones], level].tolist())

    names = [MODELS[m][0] for m in p.model.tolist()]
    heads = [f'{{"device_id":{q(d)},"imei":{q(i)},"model":{q(m)},"os_version":'
             for d, i, m in zip(p.device_id, p.imei, names, strict=True)]
    tails = [f',"account_id":{q(a)},"package":' for a in p.account]

    def payloads(phones: np.ndarray, when: np.ndarray, packages: Sequence[str | None],
                 ms: Sequence[int | None], attrs: Sequence[str]) -> list[str]:
        vs = version(phones, when)
        received = iso(np.minimum(when + (rng.exponential(90.0, len(when)) * US).astype(
            np.int64), end))
        return [f'{heads[d]}"{v}"{tails[d]}{q(pk)},"duration_ms":{"null" if m is None else m},'
                f'"attrs":{a},"received_at":"{r}"}}'
                for d, v, pk, m, a, r in zip(phones.tolist(), vs, packages, ms, attrs, received,
                                             strict=True)]

    # the budget is cut inside the last session: keep its events in time order
    keep_slots = slots
    budget = count - int(sizes[:-1].sum())  # events the last session may still have
    last = sessions - 1
    last_slots = int(apps_in[last])
    drop_session = budget < 1 + 2 * last_slots + int(crashed[last])
    keep_last = max(0, min(last_slots, budget // 2)) if drop_session else last_slots
    keep_slots = slots - (last_slots - keep_last)
    spare = budget - 2 * keep_last if drop_session else 0  # 0 or 1 event left over
    pkg = [PACKAGES[k][0] for k in package.tolist()]
    slot_phone = who[session_of]
    h.emit("devices.app_opened", opened[:keep_slots], payloads(
        slot_phone[:keep_slots], opened[:keep_slots], pkg[:keep_slots],
        [None] * keep_slots, ["{}"] * keep_slots))
    h.emit("devices.app_closed", closed[:keep_slots], payloads(
        slot_phone[:keep_slots], closed[:keep_slots], pkg[:keep_slots],
        (stay[:keep_slots] // 1000).tolist(), ["{}"] * keep_slots))
    full = sessions - 1 if drop_session else sessions
    done = np.arange(full)
    if drop_session and spare:  # one event short of the next pair: the session record
        done = np.arange(sessions)
    h.emit("devices.session_recorded", ended[done], payloads(
        who[done], ended[done], [None] * len(done),
        ((ended[done] - begin[done]) // 1000).tolist(), ["{}"] * len(done)))
    crash = np.flatnonzero(crashed[:full])
    crash_slot = first_slot[crash]
    h.emit("devices.app_crashed", closed[crash_slot] - US, payloads(
        who[crash], closed[crash_slot] - US, [pkg[s] for s in crash_slot.tolist()],
        [None] * len(crash), [CRASHES[k] for k in rng.integers(0, len(CRASHES),
                                                               len(crash)).tolist()]))
