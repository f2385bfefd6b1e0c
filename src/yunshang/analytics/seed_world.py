"""The synthetic merchant's world for :mod:`yunshang.analytics.seed`: its catalogue,
sales, buyers, phones and their users, drawn with ``numpy``, one array per column.

Times are integer microseconds since the epoch (UTC). Each ``_emit`` call adds one
event name's rows: their times and their payloads as JSON text, built from values
that never need escaping (ids, fixed names, numbers), with the payload fields in the
order the real contexts write them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

US = 1_000_000
HOUR = 3600 * US
DAY = 24 * HOUR

#: (name, TAC, API level, base OS version, ((colour, storage GB, price in fen), …))
MODELS = (
    ("Meizu 22", "86451204", 35, "15.0.0",
     (("Black", 256, 299_900), ("White", 512, 349_900))),
    ("Meizu 22 Pro", "86451214", 35, "15.0.0",
     (("Black", 512, 449_900), ("Titanium", 1024, 529_900))),
    ("Meizu Note 16", "86451224", 34, "14.2.0",
     (("Blue", 128, 129_900), ("Black", 256, 149_900), ("Green", 256, 149_900))),
    ("Meizu mblu 22", "86451234", 34, "14.2.0", (("Grey", 128, 89_900),)),
)
#: (name, kind, share of orders)
CHANNELS = (("Tmall", "marketplace", 0.34), ("JD.com", "marketplace", 0.26),
            ("Pinduoduo", "marketplace", 0.14), ("Douyin Shop", "marketplace", 0.10),
            ("Meizu Store", "own_store", 0.16))
#: (package, developer tenant); popularity falls with the rank (a long tail)
PACKAGES = (("com.tencent.mm", "tencent"), ("com.ss.android.ugc.aweme", "bytedance"),
            ("com.eg.android.AlipayGphone", "ant"), ("com.taobao.taobao", "alibaba"),
            ("com.xingin.xhs", "xiaohongshu"), ("tv.danmaku.bili", "bilibili"),
            ("com.sina.weibo", "weibo"), ("com.autonavi.minimap", "amap"),
            ("com.netease.cloudmusic", "netease"), ("com.jingdong.app.mall", "jd"),
            ("com.tencent.mobileqq", "tencent"), ("com.meizu.flyme.weather", "meizu"))
POPULARITY = 1.0 / np.arange(1, len(PACKAGES) + 1) ** 1.2
#: share of sessions by UTC hour: Beijing (UTC+8) mornings, lunch and late evenings
HOURLY = np.array([6, 5, 4, 4, 6, 5, 4, 4, 4, 5, 6, 8, 10, 12, 12, 10, 6, 3, 1, 1, 1, 1, 2, 4],
                  dtype=float)
#: session volume by weekday (Monday first): weekends are busier
WEEKDAY = np.array([0.95, 0.92, 0.95, 1.0, 1.08, 1.25, 1.2])
CAMPAIGNS = 6
CRASHES = ('{"signal":"SIGSEGV"}', '{"exception":"java.lang.NullPointerException"}',
           '{"signal":"SIGABRT"}')


_ALPHABET = np.frombuffer(b"0123456789abcdefghjkmnpqrstvwxyz", dtype=np.uint8)


def make_ids(prefix: str, micros: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``<prefix>_`` + 10 base-32 digits of the milliseconds + 16 random ones (the
    layout of :func:`yunshang.kernel.ids.new_id`), drawn from ``rng``."""
    n = len(micros)
    millis = (micros // 1000).astype(np.int64)
    high = rng.integers(0, 1 << 40, size=n, dtype=np.int64)
    low = rng.integers(0, 1 << 40, size=n, dtype=np.int64)
    shifts = np.arange(35, -1, -5)
    digits = np.concatenate([(millis[:, None] >> np.arange(45, -1, -5)) & 31,
                             (high[:, None] >> shifts) & 31, (low[:, None] >> shifts) & 31],
                            axis=1)
    head = np.frombuffer(f"{prefix}_".encode(), dtype=np.uint8)
    grid = np.concatenate([np.broadcast_to(head, (n, len(head))), _ALPHABET[digits]], axis=1)
    width = grid.shape[1]
    return np.ascontiguousarray(grid).view(f"S{width}").ravel().astype(f"U{width}").astype(object)


def make_imeis(tac: str, serials: np.ndarray) -> np.ndarray:
    """15-digit Luhn-valid IMEIs: the 8-digit TAC, a 6-digit serial, the check digit
    (serials past 999,999 move to the next TAC)."""
    body = (int(tac) + serials // 1_000_000) * 1_000_000 + serials % 1_000_000
    digits = (body[:, None] // 10 ** np.arange(13, -1, -1)) % 10  # 14 digits, left to right
    doubled = digits[:, 13::-2] * 2  # from the right: every other digit, starting with the last
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = doubled.sum(axis=1) + digits[:, 12::-2].sum(axis=1)
    check = (10 - total % 10) % 10
    return np.array([f"{b:014d}{c}" for b, c in zip(body.tolist(), check.tolist(),
                                                     strict=True)], dtype=object)


def q(value: str | None) -> str:
    """A JSON string of a value that needs no escaping, or null."""
    return "null" if value is None else f'"{value}"'


def iso(micros: np.ndarray) -> list[str]:
    """ISO 8601 UTC timestamps, as ``datetime.isoformat()`` writes them (with µs)."""
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    return [t + "+00:00" for t in text.tolist()]


def hour_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Offsets into a day, in µs, shaped by :data:`HOURLY`."""
    hours = rng.choice(24, size=n, p=HOURLY / HOURLY.sum())
    return hours * HOUR + rng.integers(0, HOUR, size=n)


@dataclass
class History:
    """Events by name: times (µs) and payload JSON texts."""

    names: list[str] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)
    payloads: list[np.ndarray] = field(default_factory=list)
    codes: list[np.ndarray] = field(default_factory=list)

    def emit(self, name: str, times: np.ndarray, payloads: Sequence[str]) -> None:
        if len(times) == 0:
            return
        if name not in self.names:
            self.names.append(name)
        self.times.append(np.asarray(times, dtype=np.int64))
        self.payloads.append(np.array(payloads, dtype=object))
        self.codes.append(np.full(len(times), self.names.index(name), dtype=np.int16))

    def count(self) -> int:
        return sum(len(t) for t in self.times)

    def merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.concatenate(self.times), np.concatenate(self.codes),
                np.concatenate(self.payloads))


def id_list(prefix: str, micros: np.ndarray, rng: np.random.Generator) -> list[Any]:
    return list(make_ids(prefix, np.asarray(micros, dtype=np.int64), rng).tolist())


@dataclass
class Catalogue:
    sku_ids: list[str]
    sku_model: np.ndarray  # index into MODELS
    sku_price: np.ndarray
    channel_ids: list[str]


def catalogue(h: History, rng: np.random.Generator, start: int, end: int) -> Catalogue:
    """Products, channels, listings and weekly restocks."""
    skus = [(m, *sku) for m, model in enumerate(MODELS) for sku in model[4]]
    t0 = start + 5 * 60 * US
    product_ids = id_list("prd", np.full(len(MODELS), t0), rng)
    sku_ids = id_list("sku", np.full(len(skus), t0), rng)
    h.emit("commerce.product_created", np.full(len(MODELS), t0), [
        f'{{"product_id":{q(pid)},"name":{q(model[0])},"brand":"Meizu","skus":['
        + ",".join(f'{{"id":{q(sku_ids[i])},"color":{q(s[1])},"storage_gb":{s[2]},'
                   f'"price_amount":{s[3]},"currency":"CNY","stock":5000}}'
                   for i, s in enumerate(skus) if s[0] == m) + "]}"
        for m, (pid, model) in enumerate(zip(product_ids, MODELS, strict=True))])
    t1 = t0 + 60 * US
    channel_ids = id_list("chn", np.full(len(CHANNELS), t1), rng)
    h.emit("commerce.channel_created", np.full(len(CHANNELS), t1), [
        f'{{"channel_id":{q(c)},"name":{q(name)},"kind":{q(kind)}}}'
        for c, (name, kind, _) in zip(channel_ids, CHANNELS, strict=True)])
    pairs = [(s, c) for s in range(len(skus)) for c in range(len(CHANNELS))]
    t2 = t1 + 60 * US
    listing_ids = id_list("lst", np.full(len(pairs), t2), rng)
    h.emit("commerce.listing_created", np.full(len(pairs), t2), [
        f'{{"listing_id":{q(lid)},"sku_id":{q(sku_ids[s])},"channel_id":{q(channel_ids[c])},'
        f'"price_amount":{skus[s][3]},"currency":"CNY","stock_mode":"shared","allocated":0}}'
        for lid, (s, c) in zip(listing_ids, pairs, strict=True)])
    weeks = np.arange(start + 7 * DAY, end, 7 * DAY)
    when = np.repeat(weeks, len(skus)) + rng.integers(0, 4 * HOUR, size=len(weeks) * len(skus))
    which = np.tile(np.arange(len(skus)), len(weeks))
    amounts = rng.integers(5, 40, size=len(when)) * 100
    h.emit("commerce.sku_restocked", when, [
        f'{{"sku_id":{q(sku_ids[s])},"quantity":{a}}}'
        for s, a in zip(which.tolist(), amounts.tolist(), strict=True)])
    return Catalogue(sku_ids, np.array([s[0] for s in skus]), np.array([s[3] for s in skus]),
                     channel_ids)


@dataclass
class Orders:
    ids: list[str]
    buyer: np.ndarray  # buyer number
    channel: np.ndarray
    sku: np.ndarray
    quantity: np.ndarray
    created: np.ndarray
    shipped: np.ndarray  # µs, or -1 when never (before ``end``)
    delivered: np.ndarray
    refunded: np.ndarray
    units: Units


def orders(h: History, rng: np.random.Generator, cat: Catalogue, *, count: int, start: int,
           end: int, tenant: str) -> Orders:
    """Flash sales and their orders' lifecycles, cut at ``end``."""
    days = max(1, (end - start) // DAY)
    n_sales = max(2, int(days))
    sale_day = np.sort(rng.integers(0, days, size=n_sales))
    evening = rng.random(n_sales) < 0.7
    starts = start + sale_day * DAY + np.where(evening, 12, 2) * HOUR
    starts = np.minimum(starts, end - HOUR)
    sale_sku = rng.choice(len(cat.sku_ids), size=n_sales, p=_sku_mix(cat))
    discount = rng.choice([0.8, 0.85, 0.9, 0.95], size=n_sales)
    sale_price = (cat.sku_price[sale_sku] * discount // 100 * 100).astype(np.int64)
    hot = (sale_day % 30 == 10) | (rng.random(n_sales) < 0.1)
    weight = rng.lognormal(0, 0.6, size=n_sales) * np.where(hot, 6.0, 1.0)
    sale = rng.choice(n_sales, size=count, p=weight / weight.sum())
    shares = np.array([c[2] for c in CHANNELS])
    channel = rng.choice(len(CHANNELS), size=count, p=shares)
    own_only = rng.random(n_sales) < 0.1  # some sales run on the own store only
    own = len(CHANNELS) - 1
    channel = np.where(own_only[sale], own, channel)
    burst = np.where(hot[sale], 45.0, 600.0) * US
    created = starts[sale] + rng.exponential(burst).astype(np.int64)
    created = np.minimum(created, starts[sale] + 2 * HOUR - US)
    quantity = np.where(rng.random(count) < 0.85, 1, 2)
    amount = quantity * sale_price[sale]
    buyers = max(1, int(count * 0.8))
    buyer = rng.integers(0, buyers, size=count)  # repeat buyers come naturally
    ids = id_list("ord", created, rng)

    cancelled = rng.random(count) < 0.12
    paid = np.where(cancelled, -1, created + rng.lognormal(np.log(40), 0.8, count).astype(np.int64)
                    .clip(1, 899) * US)
    cancel_t = np.where(cancelled, created + 15 * 60 * US, -1)
    early_refund = ~cancelled & (rng.random(count) < 0.02)
    early_refund_t = np.where(early_refund, paid + rng.integers(HOUR, 20 * HOUR, count), -1)
    ships = ~cancelled & ~early_refund
    shipped = np.where(ships, paid + rng.integers(4 * HOUR, 48 * HOUR, count), -1)
    drone = rng.random(count) < 0.08
    trip = np.where(drone, rng.lognormal(np.log(3.0), 0.4, count),
                    rng.lognormal(np.log(30.0), 0.35, count))
    lost = ships & (rng.random(count) < 0.005)
    delivered = np.where(ships & ~lost, shipped + (trip * HOUR).astype(np.int64), -1)
    lost_t = np.where(lost, shipped + 7 * DAY, -1)
    got = delivered >= 0
    late_refund = got & (rng.random(count) < 0.03)
    late_refund_t = np.where(late_refund, delivered + rng.integers(DAY, 5 * DAY, count), -1)
    confirms = got & ~late_refund & (rng.random(count) < 0.72)
    completed = np.where(confirms, delivered + rng.lognormal(np.log(20.0), 0.8, count)
                         .astype(np.int64) * HOUR // 1, -1)
    completed = np.where(got & ~late_refund & ~confirms, delivered + 7 * DAY, completed)
    refunded = np.maximum.reduce([early_refund_t, lost_t, late_refund_t])
    reason = np.where(early_refund, "buyer_request", np.where(lost, "lost_in_transit",
                                                              "defective"))

    # the sales: most sell out (quantity = what their orders kept), others do not
    kept = np.bincount(sale[~cancelled], weights=quantity[~cancelled], minlength=n_sales)
    sells_out = rng.random(n_sales) < 0.6
    sale_qty = np.maximum(np.where(sells_out, kept, np.ceil(kept * 1.3) + 5), 1).astype(np.int64)
    sale_ids = id_list("fs", starts - 3 * DAY, rng)
    sale_created = np.maximum(starts - 3 * DAY, start + 10 * 60 * US)
    channels_json = [
        "[" + ",".join(q(c) for c in cat.channel_ids) + "]", f"[{q(cat.channel_ids[own])}]"]
    h.emit("commerce.flash_sale_created", sale_created, [
        f'{{"sale_id":{q(sid)},"sku_id":{q(cat.sku_ids[s])},'
        f'"channel_ids":{channels_json[int(o)]},"price_amount":{p},"currency":"CNY",'
        f'"quantity":{n},"per_buyer_limit":2,"starts_at":"{a}","ends_at":"{b}"}}'
        for sid, s, o, p, n, a, b in zip(
            sale_ids, sale_sku.tolist(), own_only.tolist(), sale_price.tolist(),
            sale_qty.tolist(), iso(starts), iso(starts + 2 * HOUR), strict=True)])

    heads = [
        f'{{"order_id":{q(o)},"sale_id":{q(sale_ids[s])},"sku_id":{q(cat.sku_ids[k])},'
        f'"channel_id":{q(cat.channel_ids[c])},"buyer_id":"usr_{tenant[:3]}{b:07d}",'
        f'"quantity":{n},"amount":{a},"currency":"CNY","status":'
        for o, s, k, c, b, n, a in zip(
            ids, sale.tolist(), sale_sku[sale].tolist(), channel.tolist(), buyer.tolist(),
            quantity.tolist(), amount.tolist(), strict=True)]
    units = _units(rng, cat, sale_sku[sale], quantity, shipped, end)

    def emit(name: str, status: str, when: np.ndarray,
             extra: Callable[[int], str] = lambda _i: "") -> None:
        rows = np.flatnonzero((when >= 0) & (when <= end))
        h.emit(f"commerce.order_{name}", when[rows],
               [f'{heads[i]}"{status}"{extra(i)}}}' for i in rows.tolist()])

    emit("created", "created", created)
    emit("paid", "paid", paid)
    emit("cancelled", "cancelled", cancel_t, lambda _i: ',"reason":"payment_timeout"')
    carriers = np.where(drone, "drone", "courier")
    emit("shipped", "shipped", shipped,
         lambda i: f',"imeis":[{",".join(q(x) for x in units.by_order[i])}],'
                   f'"carrier":"{carriers[i]}"')
    emit("delivered", "delivered", delivered)
    released = np.where(confirms, "buyer", "timeout")
    emit("completed", "completed", completed, lambda i: f',"released_by":"{released[i]}"')
    emit("refunded", "refunded", refunded, lambda i: f',"reason":"{reason[i]}"')
    _returns(h, heads, ids, [cat.channel_ids[c] for c in channel.tolist()], buyer,
             [cat.sku_ids[k] for k in sale_sku[sale].tolist()], quantity, amount,
             delivered, np.where(confirms, completed, -1), units, end=end, tenant=tenant)
    for arr in (shipped, delivered, refunded):
        arr[arr > end] = -1
    return Orders(ids, buyer, channel, sale_sku[sale], quantity, created, shipped, delivered,
                  refunded, units)


def _returns(h: History, heads: list[str], ids: list[str], channel_ids: list[str],
             buyer: np.ndarray, sku: list[str], quantity: np.ndarray, amount: np.ndarray,
             delivered: np.ndarray, confirmed: np.ndarray, units: Units, *, end: int,
             tenant: str) -> None:
    """Returns after delivery: about 2 % of the orders their buyers confirmed come back
    within the 7-day window, a day or so after the confirmation (so escrow was already
    released); the parcel is received and refunded a few days later, and one in five
    returns has a damaged unit, written off. Drawn from a generator of its own, seeded
    from the orders, so the rest of the history is the same as without returns."""
    rr = np.random.default_rng(int(delivered.sum() % (2**32)))
    count = len(ids)
    asked = confirmed + rr.integers(HOUR, DAY, count)
    chosen = (confirmed >= 0) & (rr.random(count) < 0.02) & (asked <= delivered + 7 * DAY)
    done = asked + rr.integers(DAY, 3 * DAY, count)
    damaged = rr.random(count) < 0.2
    for i in np.flatnonzero(chosen & (asked <= end)).tolist():
        rid = f"ret_{ids[i][4:]}"
        n, a, k = int(quantity[i]), int(amount[i]), sku[i]
        bad = 1 if damaged[i] else 0
        fields = (f'{{"return_id":{q(rid)},"order_id":{q(ids[i])},'
                  f'"channel_id":{q(channel_ids[i])},'
                  f'"buyer_id":"usr_{tenant[:3]}{int(buyer[i]):07d}","quantity":{n},'
                  f'"amount":{a},"currency":"CNY","status":')
        line = f'"sku_id":{q(k)},"quantity":{n}'
        h.emit("commerce.return_requested", np.array([asked[i]]), [
            f'{fields}"requested","units":[{{{line},"resellable":0,"damaged":0}}]}}'])
        if done[i] > end:
            continue
        inspected = f'"units":[{{{line},"resellable":{n - bad},"damaged":{bad}}}]'
        imeis = ",".join(q(x) for x in units.by_order.get(i, []))
        at = np.array([done[i]])
        h.emit("commerce.return_received", at, [
            f'{fields}"received",{inspected},"imeis":[{imeis}],"reason":"not as described"}}'])
        if bad:
            h.emit("commerce.units_written_off", at, [
                f'{fields}"received",{inspected},"written_off":[{{"sku_id":{q(k)},'
                f'"quantity":1}}]}}'])
        h.emit("commerce.return_refunded", at, [
            f'{fields}"refunded",{inspected},"provider":"sim","refund_no":"rf{i:09d}"}}'])
        h.emit("commerce.order_returned", at, [
            f'{heads[i]}"returned","return_id":{q(rid)},"returned_quantity":{n},'
            f'"refund_amount":{a}}}'])


def _sku_mix(cat: Catalogue) -> np.ndarray:
    cheap = 1.0 / np.sqrt(cat.sku_price / cat.sku_price.min())  # cheaper phones sell more
    return np.asarray(cheap / cheap.sum())


@dataclass
class Units:
    order: np.ndarray  # order index of each shipped unit
    imei: np.ndarray
    model: np.ndarray
    by_order: dict[int, list[str]]


def _units(rng: np.random.Generator, cat: Catalogue, sku: np.ndarray, quantity: np.ndarray,
           shipped: np.ndarray, end: int) -> Units:
    """The IMEIs packed into each order that ships (one per unit, unique per model)."""
    ships = np.flatnonzero((shipped >= 0) & (shipped <= end))
    order_of_unit = np.repeat(ships, quantity[ships])
    model = cat.sku_model[sku[order_of_unit]]
    imeis = np.empty(len(order_of_unit), dtype=object)
    for m, spec in enumerate(MODELS):
        rows = np.flatnonzero(model == m)
        serials = rng.permutation(len(rows) * 3)[:len(rows)].astype(np.int64) + 1
        imeis[rows] = make_imeis(spec[1], serials)
    by_order: dict[int, list[str]] = {}
    for o, imei in zip(order_of_unit.tolist(), imeis.tolist(), strict=True):
        by_order.setdefault(o, []).append(imei)
    return Units(order_of_unit, imeis, model, by_order)


def marketing(h: History, rng: np.random.Generator, cat: Catalogue, o: Orders, *,
              impressions: int, start: int, end: int, tenant: str) -> None:
    """Campaigns on the channels: impressions, clicks (3.5 %), QR scans, and the orders
    their clicks and scans led to (``marketing.order_attributed``, a quarter of them)."""
    campaign_ids = id_list("cmp", np.full(CAMPAIGNS, start), rng)
    campaign_channel = rng.choice(len(CHANNELS), size=CAMPAIGNS,
                                  p=np.array([c[2] for c in CHANNELS]))
    length = end - start
    c_start = start + (rng.random(CAMPAIGNS) * length * 0.6).astype(np.int64)
    c_end = np.minimum(c_start + rng.integers(14 * DAY, 60 * DAY, CAMPAIGNS), end)
    weight = rng.lognormal(0, 0.7, CAMPAIGNS)
    which = rng.choice(CAMPAIGNS, size=impressions, p=weight / weight.sum())
    days = np.maximum((c_end - c_start) // DAY, 1)
    when = (c_start[which] // DAY + (rng.random(impressions) * days[which]).astype(np.int64)) \
        * DAY + hour_of_day(rng, impressions)
    when = np.clip(when, c_start[which], end)
    prospects = max(10, impressions // 6)
    account = rng.integers(0, prospects, impressions)
    impression_ids = id_list("imp", when, rng)

    def touch(c: int, a: int) -> str:
        return (f'{{"campaign_id":{q(campaign_ids[c])},'
                f'"channel_id":{q(cat.channel_ids[campaign_channel[c]])},'
                f'"device_id":null,"account_id":"acc_{tenant[:3]}p{a:07d}"')

    h.emit("marketing.impression_served", when, [
        f'{touch(c, a)},"impression_id":{q(i)}}}'
        for c, a, i in zip(which.tolist(), account.tolist(), impression_ids, strict=True)])
    clicks = np.flatnonzero(rng.random(impressions) < 0.035)
    clicked = when[clicks] + rng.integers(2 * US, 120 * US, len(clicks))
    keep = clicks[clicked <= end]
    h.emit("marketing.ad_clicked", np.minimum(clicked, end)[clicked <= end], [
        f'{touch(int(which[i]), int(account[i]))},"impression_id":{q(impression_ids[i])}}}'
        for i in keep.tolist()])
    scans = max(1, len(clicks) * 2 // 5)
    s_which = rng.choice(CAMPAIGNS, size=scans, p=weight / weight.sum())
    s_when = np.clip(c_start[s_which] + (rng.random(scans) * (c_end - c_start)[s_which])
                     .astype(np.int64), start, end)
    codes = id_list("qr", np.full(CAMPAIGNS, start), rng)
    h.emit("qr.code_scanned", s_when, [
        f'{touch(c, a)},"code_id":{q(codes[c])}}}'
        for c, a in zip(s_which.tolist(), rng.integers(0, prospects, scans).tolist(),
                        strict=True)])
    credited = np.flatnonzero((rng.random(len(o.ids)) < 0.25) & (o.created + US <= end))
    by_channel = {ch: np.flatnonzero(campaign_channel == ch) for ch in range(len(CHANNELS))}
    pick = []
    for i in credited.tolist():
        same = by_channel[int(o.channel[i])]
        pick.append(int(same[i % len(same)]) if len(same) else i % CAMPAIGNS)
    touches = rng.choice(["click", "scan"], size=len(credited), p=[0.7, 0.3])
    h.emit("marketing.order_attributed", o.created[credited] + US, [
        f'{{"order_id":{q(o.ids[i])},"campaign_id":{q(campaign_ids[c])},'
        f'"channel_id":{q(cat.channel_ids[int(o.channel[i])])},"touch":"{t}"}}'
        for i, c, t in zip(credited.tolist(), pick, touches.tolist(), strict=True)])
