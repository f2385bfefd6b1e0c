"""A deterministic, varied event history covering every event name in ``SCHEMAS``.

``events()`` returns ``(name, tenant, occurred_at, payload)`` tuples for
:func:`tests.integration.analytics.support.emit`: three tenants over four weeks from
Monday 2026-11-02, orders going created → paid → shipped (IMEIs, carriers ``sf``,
``drone``, ``courier`` or none) → delivered → completed or refunded (some cancelled,
some never paid), flash sales (one sells out within seconds), devices sold and
activated, daily telemetry with OS versions changing mid-day, app installs and
uninstalls, OTA reports that succeed or fail, ad impressions, clicks, QR scans and
order attributions; most orders carry a delivery address. Timestamps carry
microseconds. A few events are odd on purpose: a quantity of another type (reads
NULL), a payload field missing, an unknown name.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

Event = tuple[str, str, datetime, dict[str, Any]]

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday
TENANTS = ("acme", "rival", "zeta")
CHANNELS = ("chn_web", "chn_app", "chn_store")
CARRIERS = ("sf", "drone", "courier", None)
PACKAGES = ("ys_maps", "ys_pay", "ys_cam", "ys_game")
CAMPAIGNS = ("cmp_spring", "cmp_phone")
#: filter values that occur in the data, by filter name (tests pick from here)
FILTER_VALUES: dict[str, str] = {
    "channel_id": "chn_web", "sku_id": "sku_1", "sale_id": "sal_1", "model": "ys-one",
    "campaign_id": "cmp_spring", "carrier": "drone", "package": "ys_maps",
    "os_version": "v15_0", "device_id": "dev_acme_0001", "rollout_id": "rol_1",
}
#: a range that cuts through the history (orders, telemetry and sales on both sides)
RANGE = (T0 + timedelta(days=3, hours=5, microseconds=250_000), T0 + timedelta(days=17))

#: delivery addresses (province, city, lat, lon): orders carry one, except every fifth
_PLACES = (("浙江", "杭州", 30.2741, 120.1551), ("上海", "上海", 31.2304, 121.4737),
           ("广东", "深圳", 22.5431, 114.0579), ("广东", "珠海", 22.2710, 113.5767))
_SKUS = {"ys-one": ("sku_1", "sku_2"), "ys-pro": ("sku_3",)}
_PRICES = {"sku_1": 199_900, "sku_2": 219_900, "sku_3": 499_900, "sku_9": 9_900}


def _jitter(rng: random.Random, seconds: float) -> timedelta:
    return timedelta(microseconds=rng.randrange(int(seconds * 1_000_000)))


class _History:
    def __init__(self, tenant: str, rng: random.Random, scale: int) -> None:
        self.tenant, self.rng, self.scale = tenant, rng, scale
        self.out: list[Event] = []
        self.devices = 0

    def add(self, name: str, when: datetime, payload: dict[str, Any]) -> None:
        self.out.append((name, self.tenant, when, payload))

    def catalogue(self) -> None:
        for i, (model, skus) in enumerate(_SKUS.items()):
            self.add("commerce.product_created", T0 - timedelta(days=3, minutes=i),
                     {"product_id": f"prd_{i}", "name": model, "brand": "Yunshang",
                      "skus": [{"id": s, "color": c} for s, c in zip(skus, ("black", "jade"),
                                                                      strict=False)]})
        for i, (channel, kind) in enumerate(zip(CHANNELS, ("web", "app", "store"), strict=True)):
            self.add("commerce.channel_created", T0 - timedelta(days=3, hours=1, minutes=i),
                     {"channel_id": channel, "name": channel.upper(), "kind": kind})
        for sku in ("sku_1", "sku_2", "sku_3", "sku_9"):
            self.add("commerce.sku_restocked", T0 - timedelta(days=2, seconds=self.rng.random()),
                     {"sku_id": sku, "quantity": self.rng.randrange(50, 500)})
            for channel in CHANNELS[:2]:
                self.add("commerce.listing_created", T0 - timedelta(days=2, hours=1),
                         {"listing_id": f"lst_{sku}_{channel}", "sku_id": sku,
                          "channel_id": channel, "price_amount": _PRICES[sku], "currency": "CNY",
                          "stock_mode": self.rng.choice(("shared", "allocated")),
                          "allocated": self.rng.choice((None, 10, 25))})

    def flash_sales(self) -> list[tuple[str, datetime, int]]:
        sales = [("sal_1", T0 + timedelta(days=4, hours=2, microseconds=250_000), 12),
                 ("sal_2", T0 + timedelta(days=11, hours=12, microseconds=731_500), 400)]
        for sale_id, start, quantity in sales:
            self.add("commerce.flash_sale_created", start - timedelta(days=1),
                     {"sale_id": sale_id, "sku_id": "sku_1", "channel_ids": list(CHANNELS[:2]),
                      "price_amount": 99_900, "currency": "CNY", "quantity": quantity,
                      "per_buyer_limit": 2, "starts_at": start.isoformat(),
                      "ends_at": (start + timedelta(hours=1)).isoformat()})
        return sales

    def orders(self, sales: list[tuple[str, datetime, int]]) -> None:
        rng = self.rng
        for n in range(12 * self.scale):
            oid = f"ord_{self.tenant}_{n:03d}"
            channel = rng.choice(CHANNELS)
            if n % 3 == 0:
                sale_id, start, _ = sales[n % 2]
                sku, created = "sku_1", start + _jitter(rng, 20 if sale_id == "sal_1" else 90)
                qty, price = rng.choice((1, 2)), 99_900
            else:
                sale_id = None
                sku = rng.choice(("sku_1", "sku_2", "sku_3", "sku_9"))
                created = T0 + timedelta(days=rng.randrange(21), hours=rng.randrange(24)) \
                    + _jitter(rng, 3600)
                qty, price = rng.choice((1, 1, 2, 3)), _PRICES[sku]
            base = {"order_id": oid, "sale_id": sale_id, "sku_id": sku, "channel_id": channel,
                    "buyer_id": f"buy_{rng.randrange(20)}", "quantity": qty,
                    "amount": qty * price, "currency": "CNY" if n % 17 else "USD"}
            if n % 5 != 4:  # derived from n, not drawn: the rest of the history stays as it was
                province, city, lat, lon = _PLACES[n % len(_PLACES)]
                base |= {"province": province, "city": city, "district": f"d{n % 3}",
                         "lat": lat + n * 1e-4, "lon": lon - n * 1e-4}
            self.add("commerce.order_created", created, {**base, "status": "created"})
            if rng.random() < 0.12:
                self.add("commerce.order_cancelled", created + timedelta(minutes=15),
                         {**base, "status": "cancelled", "reason": "unpaid"})
                continue
            if rng.random() < 0.05:
                continue  # still waiting for payment
            paid = created + _jitter(rng, 600)
            self.add("commerce.order_paid", paid, {**base, "status": "paid"})
            if rng.random() < 0.15:
                continue
            shipped = paid + timedelta(hours=rng.randrange(1, 30)) + _jitter(rng, 60)
            imeis = [f"86{self.tenant[:2]}{n:03d}{k}".ljust(15, "0") for k in range(qty)]
            carrier = CARRIERS[n % len(CARRIERS)]
            ship = {**base, "status": "shipped", "imeis": imeis,
                    **({"carrier": carrier} if carrier else {})}
            self.add("commerce.order_shipped", shipped, ship)
            model = next(m for m, s in _SKUS.items() if sku in s) if sku != "sku_9" else None
            devices = []
            for imei in imeis:
                self.devices += 1
                device = f"dev_{self.tenant}_{self.devices:04d}"
                devices.append(device)
                self.add("devices.device_sold", shipped,
                         {"device_id": device, "imei": imei, "model": model, "state": "sold",
                          "order_id": oid, "buyer_id": base["buyer_id"], "sku_id": sku})
            if rng.random() < 0.15:
                continue
            delivered = shipped + timedelta(hours=rng.choice((3, 20, 47, 50, 80))) \
                + _jitter(rng, 1800)
            self.add("commerce.order_delivered", delivered, {**base, "status": "delivered"})
            if carrier == "drone":  # flown: the delivery context's events (no draw: the
                self.flight(oid, n, shipped, delivered)  # rest of the history stays put)
            outcome = rng.random()
            if outcome < 0.65:
                self.add("commerce.order_completed", delivered + timedelta(days=10),
                         {**base, "status": "completed",
                          "released_by": rng.choice(("buyer", "auto"))})
            elif outcome < 0.85:
                self.add("commerce.order_refunded", delivered + timedelta(days=2),
                         {**base, "status": "refunded", "reason": "changed_mind"})
            for device, imei in zip(devices, imeis, strict=True):
                if rng.random() < 0.25:
                    continue
                # some phones are switched on before the courier's scan reaches us
                activated = delivered + timedelta(hours=rng.choice((-2, 1, 5, 30, 100))) \
                    + _jitter(rng, 600)
                self.add("devices.device_activated", activated,
                         {"device_id": device, "imei": imei, "model": model,
                          "state": "activated", "account_id": f"acc_{device}", "order_id": oid,
                          "buyer_id": base["buyer_id"], "sku_id": sku,
                          "sold_at": shipped.isoformat()})
                self.usage(device, imei, model or "unknown", activated)
            if rng.random() < 0.3:
                self.add("marketing.order_attributed", created + timedelta(seconds=1),
                         {"order_id": oid, "campaign_id": rng.choice(CAMPAIGNS),
                          "channel_id": channel, "touch": rng.choice(("click", "scan"))})

    def flight(self, oid: str, n: int, departed: datetime, delivered: datetime) -> None:
        """A one-stop drone route: the round that planned it, take-off, the landing at the
        door (late after the hour's promise) and the return."""
        flight = {"round_id": f"rnd_{n}", "hub_id": "hub_1", "drone_id": f"drn_{n % 3}",
                  "route_no": 0}
        due = departed + timedelta(hours=1)
        self.add("delivery.round_planned", departed - timedelta(minutes=5),
                 {"round_id": f"rnd_{n}", "routes": 1, "by_drone": 1, "by_courier": 0,
                  "waiting": 0, "km": 4.5})
        self.add("delivery.drone_departed", departed,
                 {**flight, "planned_at": departed.isoformat(), "actual_at": departed.isoformat(),
                  "delay_s": 0})
        self.add("delivery.parcel_delivered", delivered,
                 {**flight, "order_id": oid, "carrier": "drone", "planned_at": due.isoformat(),
                  "actual_at": delivered.isoformat(), "due_at": due.isoformat(),
                  "late": delivered > due, "delay_s": int((delivered - due).total_seconds()),
                  "reason": None})
        self.add("delivery.drone_returned", delivered + timedelta(minutes=6),
                 {**flight, "planned_at": None,
                  "actual_at": (delivered + timedelta(minutes=6)).isoformat(), "delay_s": None})

    def usage(self, device: str, imei: str, model: str, since: datetime) -> None:
        rng = self.rng
        os_version, updated = "v14_0", False
        common = {"device_id": device, "imei": imei, "model": model,
                  "account_id": f"acc_{device}"}
        for day in range(0, 26, rng.choice((2, 3, 4))):
            if rng.random() < 0.4:
                continue
            morning = (since + timedelta(days=day)).replace(hour=7) + _jitter(rng, 3600)
            for k in range(1 if rng.random() < 0.7 else 2):
                when = morning + timedelta(hours=3 * k) + _jitter(rng, 300)
                package = rng.choice(PACKAGES)
                tele = {**common, "os_version": os_version, "attrs": {"screen": "home"},
                        "received_at": (when + timedelta(seconds=2)).isoformat()}
                self.add("devices.app_opened", when,
                         {**tele, "package": package, "duration_ms": None})
                self.add("devices.app_closed", when + timedelta(minutes=5),
                         {**tele, "package": package,
                          "duration_ms": rng.randrange(1_000, 3_600_000)})
                if rng.random() < 0.2:
                    self.add("devices.app_crashed", when + timedelta(minutes=1),
                             {**tele, "package": package, "duration_ms": 0,
                              "attrs": {"signal": "SIGSEGV", "frames": [1, 2]}})
            self.add("devices.session_recorded", morning + timedelta(hours=8),
                     {**common, "os_version": os_version, "package": None,
                      "duration_ms": rng.randrange(60_000, 7_200_000), "attrs": {},
                      "received_at": None})
            if not updated and day >= 6 and rng.random() < 0.5:
                updated = True
                rollout = "rol_1" if day < 14 else "rol_2"
                ok = rng.random() < 0.8
                report = {"rollout_id": rollout, "release_id": f"rel_{rollout}",
                          "device_id": device, "imei": imei, "model": model,
                          "from_version": "v14_0", "to_version": "v15_0", "success": ok,
                          "detail": None if ok else "tuf: signature mismatch",
                          "stage": 1 + day // 10}
                self.add("devices.update_reported", morning + timedelta(hours=9), report)
                if ok:
                    self.add("devices.os_updated", morning + timedelta(hours=9, seconds=1),
                             {**common, "state": "activated", "from_version": "v14_0",
                              "to_version": "v15_0"})
                    os_version = "v15_0"  # later telemetry that day runs the new version
        self.apps(device, imei, model, since)

    def apps(self, device: str, imei: str, model: str, since: datetime) -> None:
        rng = self.rng
        for i, package in enumerate(rng.sample(PACKAGES, rng.randrange(1, 4))):
            when = since + timedelta(hours=2 + i, microseconds=rng.randrange(1_000_000))
            fields = {"device_id": device, "imei": imei, "model": model, "state": "activated",
                      "api_level": 34, "install_id": f"ins_{device}_{package}",
                      "app_id": f"app_{package}", "package": package, "developer": "studio"}
            self.add("devices.app_installed", when,
                     {**fields, "version_code": 3, "previous_version_code": None})
            if rng.random() < 0.3:
                self.add("devices.app_installed", when + timedelta(days=4),
                         {**fields, "version_code": 4, "previous_version_code": 3})
            if rng.random() < 0.2:
                self.add("devices.app_uninstalled", when + timedelta(days=6),
                         {**fields, "version_code": 4})

    def marketing(self) -> None:
        rng = self.rng
        for n in range(15 * self.scale):
            when = T0 + timedelta(days=rng.randrange(21), hours=rng.randrange(24)) \
                + _jitter(rng, 3600)
            touch = {"campaign_id": rng.choice(CAMPAIGNS), "device_id": f"ad_dev_{n % 9}",
                     "account_id": None,
                     **({"channel_id": rng.choice(CHANNELS[:2])} if n % 4 else {})}
            self.add("marketing.impression_served", when, {**touch, "impression_id": f"imp_{n}"})
            if rng.random() < 0.4:
                self.add("marketing.ad_clicked", when + _jitter(rng, 30),
                         {**touch, "impression_id": f"imp_{n}"})
            if rng.random() < 0.2:
                self.add("qr.code_scanned", when + timedelta(minutes=3),
                         {**touch, "code_id": f"qr_{n % 5}"})

    def returns(self) -> None:
        """The first two confirmed orders come back after delivery (the second with a
        damaged unit): every return event, without touching the random stream."""
        completed = [(when, p) for name, _t, when, p in self.out
                     if name == "commerce.order_completed"][:2]
        for n, (when, order) in enumerate(completed):
            qty, damaged = int(order["quantity"]), n
            rid = f"ret_{order['order_id']}"
            fields = {k: order[k] for k in ("order_id", "channel_id", "buyer_id", "quantity",
                                            "amount", "currency")}
            fields["return_id"] = rid
            unit = {"sku_id": order["sku_id"], "quantity": qty}
            asked, got = when + timedelta(hours=3), when + timedelta(days=2)
            self.add("commerce.return_requested", asked, {
                **fields, "status": "requested",
                "units": [{**unit, "resellable": 0, "damaged": 0}]})
            inspected = [{**unit, "resellable": qty - damaged, "damaged": damaged}]
            self.add("commerce.return_received", got, {
                **fields, "status": "received", "units": inspected, "imeis": [],
                "reason": "not as described"})
            if damaged:
                self.add("commerce.units_written_off", got, {
                    **fields, "status": "received", "units": inspected,
                    "written_off": [{"sku_id": order["sku_id"], "quantity": damaged}]})
            self.add("commerce.return_refunded", got, {
                **fields, "status": "refunded", "units": inspected, "provider": "sim",
                "refund_no": f"rf_{n}"})
            self.add("commerce.order_returned", got, {
                **order, "status": "returned", "return_id": rid, "returned_quantity": qty,
                "refund_amount": order["amount"]})

    def oddities(self) -> None:
        when = T0 + timedelta(days=5, microseconds=5)
        self.add("commerce.order_paid", when,
                 {"order_id": f"ord_{self.tenant}_odd", "sku_id": "sku_2", "channel_id":
                  "chn_app", "quantity": "two", "amount": 5, "currency": "CNY"})
        self.add("commerce.gift_wrapped", when, {"order_id": f"ord_{self.tenant}_odd"})


def events(seed: int = 20261111) -> list[Event]:
    """The whole history, in no particular order."""
    rng = random.Random(seed)
    out: list[Event] = []
    for tenant, scale in zip(TENANTS, (3, 2, 1), strict=True):
        history = _History(tenant, rng, scale)
        history.catalogue()
        history.orders(history.flash_sales())
        history.marketing()
        history.returns()
        history.oddities()
        out += history.out
    return out
