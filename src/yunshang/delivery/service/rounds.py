"""Dispatch rounds, flights and parcel tracking: the delivery context's use cases over
commerce's paid orders.

A round (``run_round``, the merchant; ``POST /v1/delivery/rounds``) takes the tenant's
paid, not yet dispatched orders (and those left waiting by the last round), makes each a
:class:`~..domain.Parcel` — its weight from the SKUs' parcel weights, its destination
from the order's address, ready now, due ``YUNSHANG_DELIVERY_PROMISE_MIN`` after payment
— and plans them with :func:`~..dispatch.dispatch` on the tenant's fleet, the drones
still away from earlier rounds starting when they are back with a fresh battery. Orders
on a route are planned for the drone; those that fall back go to the courier with the
reason recorded, except a full round's (``no_capacity``) while the next round can still
fly them there before the promise (``domain.keeps_waiting``): those wait. The round, its
plan and every parcel are stored in one transaction; two rounds racing for the same
orders cannot both store them.

The merchant then ships each order with the carrier its parcel names (``drone`` or the
courier). ``fly`` (the simulation: ``yunshang delivery simulate``, the launch day) flies
the stored rounds on the simulated clock: a round's timeline is fixed the first time it
flies (all its orders must have shipped), and each event is recorded once, in its own
transaction with the parcel's new state and the round's progress, after the order is
marked delivered through commerce — a crash between the two is repaired by the next
``fly`` (an order already delivered is not delivered again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from yunshang.commerce import OrderStatus
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock, ManualClock, ensure_utc, ensure_utc_or_none
from yunshang.kernel.db import Database
from yunshang.kernel.errors import Conflict, NotFound
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import owned_page, owned_row, tenant_scope

from ..dispatch import centre, dispatch
from ..domain import (
    DispatchRound,
    Drone,
    FallbackReason,
    Parcel,
    ParcelStatus,
    ParcelTracking,
    Plan,
    Point,
    RoundStatus,
    distance_km,
    keeps_waiting,
)
from ..errors import DeliveryErrorCode
from ..geometry import Airspace
from ..picture import draw_routes, routes_svg
from ..simulation import (
    DRONE,
    Courier,
    FlightEvent,
    FlightKind,
    FlightSummary,
    flight_timeline,
    fly,
    planned_return,
)
from ..store import (
    delivery_parcels,
    delivery_rounds,
    plan_from_json,
    plan_json,
    timeline_from_json,
    timeline_json,
)
from .fleet import MANAGERS, FleetService

#: The most orders one round takes (oldest payments first); the rest wait for the next.
MAX_ROUND_PARCELS = 5000
#: Paid orders read from commerce per page.
ORDERS_PAGE = 500
#: A round's search budget (s) when the caller names none, and the most it may name.
DEFAULT_RUNTIME_S = 5.0
MAX_RUNTIME_S = 30.0
#: How far back earlier rounds can still hold a drone (its last planned return).
BUSY_LOOKBACK = timedelta(days=1)


class OrderDesk(Protocol):
    """What dispatch needs of commerce (its facade's ``CommerceService``)."""

    def list_orders(self, principal: Principal, req: PageRequest, *,
                    sale_id: str | None = None,
                    status: OrderStatus | None = None) -> Page[Any]: ...

    def get_order(self, principal: Principal, order_id: str) -> Any: ...

    def deliver_order(self, principal: Principal, order_id: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class FlightReport:
    """What one ``fly`` call recorded, and what is left to fly."""

    events: tuple[FlightEvent, ...]
    summary: FlightSummary
    rounds_flown: int
    rounds_left: int


class NotShippedYet(Conflict):
    def __init__(self, round_id: str, orders: Sequence[str]) -> None:
        shown = ", ".join(orders[:5]) + (" …" if len(orders) > 5 else "")
        super().__init__(f"round {round_id} cannot fly: {len(orders)} of its orders have not "
                         f"shipped yet ({shown}); ship them with the carrier their parcel "
                         "names first", code=DeliveryErrorCode.NOT_SHIPPED,
                         round_id=round_id, orders=list(orders))


class SimulatedClockNeeded(Conflict):
    def __init__(self) -> None:
        super().__init__("flights are simulated: the platform must run on a simulated "
                         "clock (yunshang delivery simulate)",
                         code=DeliveryErrorCode.SIMULATION_ONLY)


class DispatchService:
    """Dispatch rounds of each tenant, their flights, and parcel tracking."""

    def __init__(self, *, db: Database, clock: Clock, fleet: FleetService, orders: OrderDesk,
                 promise: timedelta, round_every: timedelta, courier: Courier) -> None:
        self.db, self.clock, self.fleet, self.orders = db, clock, fleet, orders
        self.promise, self.round_every, self.courier = promise, round_every, courier
        #: tenant → (zones and hubs it was built for, its airspace): legs are cached
        #: across rounds while the tenant's zones and hubs stay the same
        self._airspaces: dict[str, tuple[object, Airspace]] = {}

    # ------------------------------------------------------------------ rounds

    def run_round(self, principal: Principal, *, runtime_s: float | None = None,
                  seed: int = 1) -> DispatchRound:
        """Plans the tenant's paid orders not yet dispatched (see the module's doc)."""
        principal.require(*MANAGERS)
        tenant, now = principal.tenant, self.clock.now()
        budget = DEFAULT_RUNTIME_S if runtime_s is None else runtime_s
        parcels = self._parcels(principal, now)
        fleet = self.fleet.fleet(tenant)
        busy = self._busy_until(tenant, now, {d.id: d for d in fleet.drones})
        plan = dispatch(parcels, fleet.hubs, fleet.drones, fleet.zones, now,
                        runtime_s=budget, seed=seed, free_at=busy,
                        airspace=self._airspace(tenant, fleet.hubs, fleet.zones))
        due = {p.order_id: p.due_by for p in parcels}
        waiting = tuple(f.order_id for f in plan.fallbacks
                        if keeps_waiting(f.reason, now, due[f.order_id], self.round_every))
        held = set(waiting)
        plan = replace(plan, fallbacks=tuple(f for f in plan.fallbacks
                                             if f.order_id not in held))
        found = DispatchRound(id=new_id("rnd"), tenant=tenant, status=RoundStatus.PLANNED,
                              plan=plan, waiting=waiting)
        self._store_round(found, parcels, now)
        return found

    def _parcels(self, principal: Principal, now: datetime) -> list[Parcel]:
        """The paid orders of the caller's tenant that no round has taken (or that wait)."""
        taken: set[str] = set()
        with self.db.read() as conn:
            taken.update(conn.execute(select(delivery_parcels.c.order_id).where(
                delivery_parcels.c.tenant == principal.tenant,
                delivery_parcels.c.status != ParcelStatus.WAITING.value)).scalars())
        weights: dict[str, float] = {}
        parcels: list[Parcel] = []
        req = PageRequest(limit=ORDERS_PAGE)
        while len(parcels) < MAX_ROUND_PARCELS:
            page = self.orders.list_orders(principal, req, status=OrderStatus.PAID)
            for order in page.items:
                if order.id in taken or order.tenant != principal.tenant:
                    continue
                parcels.append(self._parcel(order, now, weights))
                if len(parcels) == MAX_ROUND_PARCELS:
                    break
            if page.next_cursor is None or not page.items:
                break
            # a service page's cursor is the last id (the API encodes it for clients)
            req = PageRequest(after=page.items[-1].id, limit=ORDERS_PAGE)
        return parcels

    def _parcel(self, order: Any, now: datetime, weights: dict[str, float]) -> Parcel:
        kg = 0.0
        for line in order.lines:
            if line.sku_id not in weights:
                weights[line.sku_id] = self.fleet.parcel_weight(order.tenant, line.sku_id)
            kg += weights[line.sku_id] * line.quantity
        address = order.address
        paid = order.paid_at or now
        return Parcel(order_id=order.id, tenant=order.tenant, weight_kg=kg,
                      destination=None if address is None else Point(address.lat, address.lon),
                      ready_at=now, due_by=paid + self.promise)

    def _airspace(self, tenant: str, hubs: Sequence[Any], zones: Sequence[Any]) -> Airspace:
        key = (tuple(zones), centre(hubs))
        cached = self._airspaces.get(tenant)
        if cached is not None and cached[0] == key:
            return cached[1]
        space = Airspace(zones, centre(hubs))
        self._airspaces[tenant] = (key, space)
        return space

    def _busy_until(self, tenant: str, now: datetime,
                    drones: Mapping[str, Drone]) -> dict[str, datetime]:
        """Drones still away on an earlier round's route: when they are back and swapped
        (planned), or when the flight timeline has them back, if it is fixed."""
        busy: dict[str, datetime] = {}
        for _, plan, timeline in self._recent(tenant, now):
            back = _returns(plan, timeline, drones)
            for drone_id, at in back.items():
                if at > now and (drone_id not in busy or at > busy[drone_id]):
                    busy[drone_id] = at
        return busy

    def _recent(self, tenant: str, now: datetime
                ) -> list[tuple[str, Plan, list[FlightEvent] | None]]:
        r = delivery_rounds.c
        with self.db.read() as conn:
            rows = conn.execute(select(r.id, r.plan, r.timeline).where(
                r.tenant == tenant, r.round_at >= now - BUSY_LOOKBACK)
                .order_by(r.round_at, r.id)).all()
        return [(row.id, plan_from_json(row.plan),
                 timeline_from_json(row.timeline) if row.timeline else None) for row in rows]

    def _store_round(self, found: DispatchRound, parcels: Sequence[Parcel],
                     now: datetime) -> None:
        plan, courier = found.plan, self.courier
        rows: dict[str, dict[str, Any]] = {}
        for p in parcels:
            rows[p.order_id] = {
                "order_id": p.order_id, "tenant": p.tenant, "round_id": found.id,
                "status": ParcelStatus.WAITING.value, "carrier": None, "reason": None,
                "hub_id": None, "drone_id": None, "route_no": None, "weight_kg": p.weight_kg,
                "ready_at": p.ready_at, "due_at": p.due_by, "planned_at": None,
                "departed_at": None, "delivered_at": None, "late": None, "updated_at": now}
        for no, route in enumerate(plan.routes):
            for order_id, at in zip(route.stops, route.arrivals, strict=True):
                rows[order_id] |= {"status": ParcelStatus.PLANNED.value, "carrier": DRONE,
                                   "hub_id": route.hub_id, "drone_id": route.drone_id,
                                   "route_no": no, "planned_at": at}
        for fallback in plan.fallbacks:
            rows[fallback.order_id] |= {
                "status": ParcelStatus.WITH_COURIER.value, "carrier": courier.carrier,
                "reason": fallback.reason.value, "planned_at": courier.planned(now),
                "due_at": courier.due(now)}
        t = delivery_parcels.c
        raced = Conflict("another dispatch round took some of these orders at the same "
                         "time; run the round again", code=DeliveryErrorCode.ROUND_RACED)
        with self.db.unit_of_work() as uow:
            before = set(uow.conn.execute(select(t.order_id).where(
                t.order_id.in_(list(rows)))).scalars()) if rows else set()
            if before:
                gone = uow.conn.execute(delivery_parcels.delete().where(
                    t.order_id.in_(before), t.status == ParcelStatus.WAITING.value)).rowcount
                if gone != len(before):  # another round took some of them meanwhile
                    raise raced
            if rows:
                try:
                    uow.conn.execute(delivery_parcels.insert(), list(rows.values()))
                except IntegrityError:  # a concurrent round stored one of them first
                    raise raced from None
            uow.conn.execute(delivery_rounds.insert().values(
                id=found.id, tenant=found.tenant, round_at=plan.round_at,
                status=found.status.value, routes=len(plan.routes), parcels=len(rows),
                plan=plan_json(plan), timeline=None, flown_events=0, created_at=now))
            uow.publish(DomainEvent("delivery.round_planned", found.tenant, now, {
                "round_id": found.id, "routes": len(plan.routes),
                "by_drone": sum(len(r.stops) for r in plan.routes),
                "by_courier": len(plan.fallbacks), "waiting": len(found.waiting),
                "km": round(sum(r.km for r in plan.routes), 3)}))
            uow.commit()

    def rounds(self, principal: Principal, page: PageRequest) -> Page[DispatchRound]:
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            return owned_page(conn, select(delivery_rounds), delivery_rounds,
                              tenant_scope(principal), page,
                              lambda row: _round_from_row(conn, row))

    def round(self, principal: Principal, round_id: str) -> DispatchRound:
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            row = owned_row(conn, delivery_rounds, round_id, tenant_scope(principal), "round")
            return _round_from_row(conn, row)

    def latest_round(self, principal: Principal) -> DispatchRound | None:
        """The tenant's most recent round (ids sort by time), or None before the first."""
        principal.require(*MANAGERS)
        stmt = select(delivery_rounds).order_by(delivery_rounds.c.id.desc()).limit(1)
        scope = tenant_scope(principal)
        if scope is not None:
            stmt = stmt.where(delivery_rounds.c.tenant == scope)
        with self.db.read() as conn:
            row = conn.execute(stmt).first()
            return None if row is None else _round_from_row(conn, row)

    def picture(self, principal: Principal, round_id: str, *, hub_id: str | None = None,
                folder: Path | None = None, name: str | None = None) -> bytes:
        """The round's routes over its hubs and no-fly zones, as SVG (and, with ``folder``,
        written there as PNG and SVG too). ``hub_id``: only that hub's routes, and the
        zones near it."""
        found = self.round(principal, round_id)
        fleet = self.fleet.fleet(found.tenant)
        plan, hubs, zones = found.plan, list(fleet.hubs), list(fleet.zones)
        if hub_id is not None:
            hub = next((h for h in hubs if h.id == hub_id), None)
            if hub is None:
                raise NotFound("hub", hub_id, field="hub_id")
            plan = replace(plan, routes=tuple(r for r in plan.routes if r.hub_id == hub_id))
            reach = max((d.range_km for d in fleet.drones if d.hub_id == hub_id), default=0.0)
            hubs = [h for h in hubs if distance_km(h.location, hub.location) <= reach]
            zones = [z for z in zones
                     if any(distance_km(p, hub.location) <= reach for p in z.ring)]
        title = f"Drone routes of round {found.id}"
        if folder is not None:
            written = draw_routes(plan, hubs, zones, folder,
                                  name=name or f"delivery-{found.id}", title=title)
            return next(p for p in written if p.suffix == ".svg").read_bytes()
        return routes_svg(plan, tuple(hubs), tuple(zones), title)

    # ------------------------------------------------------------------ flights

    def fly(self, principal: Principal, until: datetime, *, seed: int = 1) -> FlightReport:
        """Flies the tenant's planned rounds on the simulated clock up to ``until``."""
        principal.require(*MANAGERS)
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise SimulatedClockNeeded()
        tenant = principal.tenant
        r = delivery_rounds.c
        with self.db.read() as conn:
            rows = conn.execute(select(r.id, r.plan, r.timeline, r.flown_events).where(
                r.tenant == tenant, r.status != RoundStatus.FLOWN.value)
                .order_by(r.round_at, r.id)).all()
        queue: list[tuple[datetime, int, int, str, FlightEvent, int]] = []
        for k, row in enumerate(rows):
            timeline = (timeline_from_json(row.timeline) if row.timeline
                        else self._fix_timeline(principal, row.id, plan_from_json(row.plan),
                                                seed))
            for i, event in enumerate(timeline):
                if i >= row.flown_events and event.at <= until:
                    queue.append((event.at, k, i, row.id, event, len(timeline)))
        queue.sort(key=lambda q: (q[0], q[1], q[2]))
        by_event = {id(q[4]): q for q in queue}

        def record(event: FlightEvent) -> None:
            _, _, i, round_id, _, total = by_event[id(event)]
            if event.kind is FlightKind.DELIVERED and event.order_id is not None:
                order = self.orders.get_order(principal, event.order_id)
                if order.status is OrderStatus.SHIPPED:
                    self.orders.deliver_order(principal, event.order_id)
            self._record(tenant, round_id, i, total, event)

        flown = fly([q[4] for q in queue], clock, record, until=until)
        with self.db.read() as conn:
            left = conn.execute(select(func.count()).select_from(delivery_rounds).where(
                r.tenant == tenant, r.status != RoundStatus.FLOWN.value)).scalar_one()
        return FlightReport(events=tuple(flown), summary=FlightSummary.of(flown),
                            rounds_flown=len(rows) - int(left), rounds_left=int(left))

    def _fix_timeline(self, principal: Principal, round_id: str, plan: Plan,
                      seed: int) -> list[FlightEvent]:
        """A round's timeline, computed once when it first flies and stored."""
        orders = [o for r in plan.routes for o in r.stops] + \
            [f.order_id for f in plan.fallbacks]
        unshipped = [o for o in orders
                     if self.orders.get_order(principal, o).status is OrderStatus.PAID]
        if unshipped:
            raise NotShippedYet(round_id, unshipped)
        tenant = principal.tenant
        drones = {d.id: d for d in self.fleet.fleet(tenant).drones}
        t = delivery_parcels.c
        with self.db.read() as conn:
            parcels = {row.order_id: Parcel(order_id=row.order_id, tenant=tenant,
                                            weight_kg=row.weight_kg, destination=None,
                                            ready_at=ensure_utc(row.ready_at),
                                            due_by=ensure_utc(row.due_at))
                       for row in conn.execute(select(delivery_parcels).where(
                           t.round_id == round_id, t.status != ParcelStatus.WAITING.value))}
        ready: dict[str, datetime] = {}
        for earlier_id, earlier, timeline in self._recent(tenant, plan.round_at):
            if earlier_id != round_id and timeline is not None \
                    and earlier.round_at <= plan.round_at:
                ready |= _returns(earlier, timeline, drones)
        timeline = flight_timeline([plan], parcels=parcels, drones=drones,
                                   seed=f"{seed}:{round_id}", courier=self.courier,
                                   ready=ready)
        r = delivery_rounds.c
        with self.db.unit_of_work() as uow:
            uow.conn.execute(delivery_rounds.update().where(
                r.id == round_id, r.timeline.is_(None)).values(
                timeline=timeline_json(timeline), status=RoundStatus.FLYING.value))
            uow.commit()
        return timeline

    def _record(self, tenant: str, round_id: str, index: int, total: int,
                event: FlightEvent) -> None:
        """One flown event: published, the parcel moved on, the round's progress counted —
        in one transaction, and only if it is the round's next event."""
        r, t = delivery_rounds.c, delivery_parcels.c
        now = event.at
        with self.db.unit_of_work() as uow:
            done = uow.conn.execute(delivery_rounds.update().where(
                r.id == round_id, r.flown_events == index).values(
                flown_events=index + 1,
                status=(RoundStatus.FLOWN if index + 1 == total
                        else RoundStatus.FLYING).value)).rowcount
            if not done:  # another process recorded it
                return
            if event.kind is FlightKind.DEPARTED:
                uow.conn.execute(delivery_parcels.update().where(
                    t.round_id == round_id, t.route_no == event.route_no,
                    t.status == ParcelStatus.PLANNED.value).values(
                    status=ParcelStatus.IN_FLIGHT.value, departed_at=now, updated_at=now))
            elif event.kind is FlightKind.DELIVERED:
                uow.conn.execute(delivery_parcels.update().where(
                    t.order_id == event.order_id).values(
                    status=ParcelStatus.DELIVERED.value, delivered_at=now, late=event.late,
                    updated_at=now))
            uow.publish(DomainEvent(event.kind.value, tenant, now, event.payload(round_id)))
            uow.commit()

    # ------------------------------------------------------------------ tracking

    def track(self, principal: Principal, order_id: str) -> ParcelTracking:
        """Where an order's parcel is, for whoever may read the order (its buyer, its
        channel, the merchant): the same authorisation as reading the order itself."""
        order = self.orders.get_order(principal, order_id)
        with self.db.read() as conn:
            row = conn.execute(select(delivery_parcels).where(
                delivery_parcels.c.order_id == order.id,
                delivery_parcels.c.tenant == order.tenant)).one_or_none()
        if row is None:
            raise NotFound("delivery", order.id)
        return ParcelTracking(
            order_id=row.order_id, round_id=row.round_id, status=ParcelStatus(row.status),
            carrier=row.carrier, reason=FallbackReason(row.reason) if row.reason else None,
            hub_id=row.hub_id, drone_id=row.drone_id, weight_kg=row.weight_kg,
            ready_at=ensure_utc(row.ready_at), due_at=ensure_utc(row.due_at),
            eta=ensure_utc_or_none(row.planned_at),
            departed_at=ensure_utc_or_none(row.departed_at),
            delivered_at=ensure_utc_or_none(row.delivered_at), late=row.late)

    def carrier_of(self, principal: Principal, order_id: str) -> str | None:
        """The carrier an order should ship with: ``drone``, the courier, or None while
        it waits for a round (or no round has taken it)."""
        principal.require(*MANAGERS, Role.CHANNEL)
        with self.db.read() as conn:
            row = conn.execute(select(delivery_parcels.c.carrier).where(
                delivery_parcels.c.order_id == order_id,
                delivery_parcels.c.tenant == principal.tenant)).one_or_none()
        return None if row is None else row.carrier


def _returns(plan: Plan, timeline: list[FlightEvent] | None,
             drones: Mapping[str, Drone]) -> dict[str, datetime]:
    """Each drone of ``plan``: when it is back with a fresh battery — by the timeline's
    returns when it is fixed, else as planned."""
    back: dict[str, datetime] = {}
    if timeline is not None:
        for e in timeline:
            drone = drones.get(e.drone_id or "")
            if e.kind is FlightKind.RETURNED and drone is not None:
                back[drone.id] = e.at + timedelta(minutes=drone.swap_min)
        return back
    for route in plan.routes:
        drone = drones.get(route.drone_id)
        if drone is not None:
            back[drone.id] = planned_return(route, drone) + timedelta(minutes=drone.swap_min)
    return back


def _round_from_row(conn: Connection, row: Any) -> DispatchRound:
    t = delivery_parcels.c
    waiting = tuple(conn.execute(select(t.order_id).where(
        t.round_id == row.id, t.status == ParcelStatus.WAITING.value)
        .order_by(t.order_id)).scalars())
    return DispatchRound(id=row.id, tenant=row.tenant, status=RoundStatus(row.status),
                         plan=plan_from_json(row.plan), waiting=waiting,
                         flown_events=row.flown_events)


__all__ = ["DispatchService", "FlightReport", "NotShippedYet", "OrderDesk",
           "SimulatedClockNeeded"]
