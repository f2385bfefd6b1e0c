"""Device rules without a database: activation lock, selling, telemetry limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yunshang.devices.registry import ActivationLocked, Device, DeviceState, NotOwner
from yunshang.devices.registry.domain import check_imei, validate_batch
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.imei import make_imei

T0 = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)


def device() -> Device:
    return Device(id="dev_1", tenant="meizu", imei=make_imei("86451204", 1), model="M22",
                  serial="S1", os_version="1.0.0", api_level=34,
                  state=DeviceState.REGISTERED, registered_at=T0)


def test_invalid_imeis_are_refused_with_the_field() -> None:
    for bad in ("86451204000001", "864512040000018", "86451204000001x", ""):
        with pytest.raises(InvalidInput) as err:
            check_imei(bad, "imeis[2]")
        assert err.value.field == "imeis[2]"
    assert check_imei(make_imei("86451204", 9)) == make_imei("86451204", 9)


def test_sold_then_activated_links_order_and_account() -> None:
    d = device()
    assert d.mark_sold(order_id="ord_1", buyer_id="alice", sku_id="sku_1", now=T0)
    assert not d.mark_sold(order_id="ord_1", buyer_id="alice", sku_id="sku_1", now=T0)
    assert d.state is DeviceState.SOLD
    assert d.activate("alice", T0 + timedelta(days=1))
    assert not d.activate("alice", T0 + timedelta(days=2))  # idempotent
    ev = [e for e in d.pull_events() if e.name == "devices.device_activated"]
    assert ev[0].payload["order_id"] == "ord_1"
    assert ev[0].payload["sold_at"] == T0.isoformat()


def test_anti_theft_lock_until_owner_releases() -> None:
    d = device()
    d.activate("alice", T0)
    with pytest.raises(ActivationLocked):
        d.activate("mallory", T0)
    with pytest.raises(NotOwner):
        d.release("mallory", T0)
    d.release("alice", T0)
    assert d.account_id is None and d.state is DeviceState.REGISTERED
    d.activate("bob", T0)
    assert d.account_id == "bob"


def ev(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"kind": "app_open", "at": T0, "package": "com.meizu.music"}
    base.update(kw)
    return base


@pytest.mark.parametrize(("batch", "field"), [
    ([], "events"),
    ([ev()] * 501, "events"),
    ([ev(), ev(kind="reboot")], "events[1].kind"),
    ([ev(at=T0.replace(tzinfo=None))], "events[0].at"),
    ([ev(at=T0 - timedelta(days=30))], "events[0].at"),
    ([ev(), ev(), ev(package=None)], "events[2].package"),
    ([ev(package="x" * 257)], "events[0].package"),
    ([ev(duration_ms=-1)], "events[0].duration_ms"),
    ([ev(duration_ms=True)], "events[0].duration_ms"),
    ([ev(attrs={f"k{i}": "v" for i in range(17)})], "events[0].attrs"),
    ([ev(attrs={"k": "v" * 300})], "events[0].attrs.k"),
])
def test_a_bad_event_refuses_the_batch_naming_it(batch: list[dict[str, object]],
                                                  field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_batch(batch, now=T0)
    assert err.value.field == field


def test_a_good_batch_passes_whole() -> None:
    got = validate_batch([ev(), ev(kind="session", package=None, duration_ms=60_000),
                          ev(kind="crash", attrs={"signal": "SIGSEGV"})], now=T0)
    assert [e.kind for e in got] == ["app_open", "session", "crash"]
