"""Issue 9, finding 1a: an order ships only the merchant's registered, unsold phones of its
model, checked by the device registry in the shipment's own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import fresh_imei, register_phones
from tests.http_support import assert_problem
from tests.integration.commerce.api_support import World
from yunshang.kernel.outbox import outbox


def _shipped_events(w: World) -> int:
    with w.platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox).where(
            outbox.c.name == "commerce.order_shipped")).scalar_one())


def _sold_phone(w: World) -> str:
    w.platform.relay.drain()  # the registry learns of the earlier shipments
    shipped = w.client.get(f"/v1/orders/{w.a.orders['shipped']}", headers=w.a.merchant)
    return str(shipped.json()["imeis"][0])


@pytest.mark.parametrize(("case", "message"), [
    ("unknown", "is not a registered phone of this merchant"),
    # another tenant's phone reads exactly like an unknown one: nothing leaks across tenants
    ("theirs", "is not a registered phone of this merchant"),
    ("other-model", "is a Meizu 22 Note, not a Meizu 22"),
    ("sold", "was already sold"),
])
def test_ship_refuses_phones_that_are_not_the_merchants_unsold_units(
        world: World, case: str, message: str) -> None:
    w = world
    oid = w.a.orders["paid"]  # two units of a "Meizu 22"
    bad = {"unknown": lambda: fresh_imei(),
           "theirs": lambda: w.b.take_phones(1)[0],
           "other-model": lambda: register_phones(w.platform, w.a.seeded.merchant.principal, 1,
                                                  model="Meizu 22 Note")[0],
           "sold": lambda: _sold_phone(w)}[case]()
    before, events = w.snapshot(), _shipped_events(w)
    r = w.client.post(f"/v1/orders/{oid}/ship", headers=w.a.merchant,
                      json={"imeis": [*w.a.take_phones(1), bad], "carrier": "SF"})
    problem = assert_problem(r, 409, "imei_not_shippable", "imeis[1]")
    assert problem["errors"] == [{"field": "imeis[1]", "message": f"{bad} {message}"}]
    assert w.snapshot() == before  # still paid, nothing written
    assert _shipped_events(w) == events
    good = w.client.post(f"/v1/orders/{oid}/ship", headers=w.a.merchant,
                         json={"imeis": w.a.take_phones(2), "carrier": "SF"})
    assert good.status_code == 200, good.text
