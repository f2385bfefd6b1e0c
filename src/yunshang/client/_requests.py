"""What a merchant, a marketplace's checkout and an operator do over the API, each
written once as a builder of a :class:`~._call.Call`: its path, its body and how its
answer reads. :mod:`._operations` offers them as both clients' methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from . import models as m
from ._call import Call, json_object, model, new_idempotency_key, segment

#: A page's size when iterating (the server's maximum).
PAGE_SIZE = 200


@dataclass(frozen=True)
class NewSku:
    """A SKU of a new product: price in minor units (fen)."""

    color: str
    storage_gb: int
    price: int
    stock: int = 0
    currency: str = "CNY"


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _page(cursor: str | None, limit: int, **filters: Any) -> dict[str, Any]:
    return {"cursor": cursor, "limit": limit, **filters}


def _key(given: str | None) -> str:
    return given if given is not None else new_idempotency_key()


# ---------------------------------------------------------------- catalog


def create_product(name: str, brand: str, skus: Sequence[NewSku]) -> Call[m.ProductRead]:
    """Creates a product with its SKUs and their opening stock (merchant)."""
    body = {"name": name, "brand": brand, "skus": [
        {"color": s.color, "storage_gb": s.storage_gb, "price": _money(s.price, s.currency),
         "stock": s.stock} for s in skus]}
    return Call("POST", "/v1/products", model(m.ProductRead), json=body)


def get_product(product_id: str) -> Call[m.ProductRead]:
    """One product with its SKUs."""
    return Call("GET", f"/v1/products/{segment(product_id)}", model(m.ProductRead))


def products(*, cursor: str | None = None,
             limit: int = PAGE_SIZE) -> Call[m.PageReadProductRead]:
    """The tenant's products."""
    return Call("GET", "/v1/products", model(m.PageReadProductRead), _page(cursor, limit))


def restock(sku_id: str, quantity: int) -> Call[m.SkuRead]:
    """Adds ``quantity`` units to a SKU's stock."""
    return Call("POST", f"/v1/skus/{segment(sku_id)}/restock", model(m.SkuRead),
                json={"quantity": quantity})


def create_channel(name: str, kind: m.ChannelKind | str = m.ChannelKind.marketplace
                   ) -> Call[m.ChannelRead]:
    """Opens a sales channel: a marketplace or the maker's own store."""
    return Call("POST", "/v1/channels", model(m.ChannelRead),
                json={"name": name, "kind": str(kind)})


def channels(*, cursor: str | None = None,
             limit: int = PAGE_SIZE) -> Call[m.PageReadChannelRead]:
    """The tenant's channels."""
    return Call("GET", "/v1/channels", model(m.PageReadChannelRead), _page(cursor, limit))


def create_listing(sku_id: str, channel_id: str, price: int, *, currency: str = "CNY",
                   stock_mode: m.StockMode | str = m.StockMode.shared,
                   allocated: int = 0) -> Call[m.ListingRead]:
    """Lists a SKU on a channel at ``price`` (fen), from the shared pool or an allocation."""
    body = {"sku_id": sku_id, "channel_id": channel_id, "price": _money(price, currency),
            "stock_mode": str(stock_mode), "allocated": allocated}
    return Call("POST", "/v1/listings", model(m.ListingRead), json=body)


def listings(*, cursor: str | None = None,
             limit: int = PAGE_SIZE) -> Call[m.PageReadListingRead]:
    """The tenant's listings."""
    return Call("GET", "/v1/listings", model(m.PageReadListingRead), _page(cursor, limit))


# ---------------------------------------------------------------- flash sales


def create_flash_sale(sku_id: str, *, price: int, quantity: int, starts_at: datetime,
                      ends_at: datetime, per_buyer_limit: int = 1,
                      channel_ids: Sequence[str] | None = None,
                      currency: str = "CNY") -> Call[m.FlashSaleRead]:
    """Schedules a flash sale of ``quantity`` units at ``price`` (fen); times are aware."""
    body = {"sku_id": sku_id, "price": _money(price, currency), "quantity": quantity,
            "per_buyer_limit": per_buyer_limit, "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "channel_ids": list(channel_ids) if channel_ids is not None else None}
    return Call("POST", "/v1/flash-sales", model(m.FlashSaleRead), json=body)


def get_flash_sale(sale_id: str) -> Call[m.FlashSaleRead]:
    """A flash sale with its units sold and left."""
    return Call("GET", f"/v1/flash-sales/{segment(sale_id)}", model(m.FlashSaleRead))


def flash_sales(*, cursor: str | None = None,
                limit: int = PAGE_SIZE) -> Call[m.PageReadFlashSaleRead]:
    """The tenant's flash sales."""
    return Call("GET", "/v1/flash-sales", model(m.PageReadFlashSaleRead), _page(cursor, limit))


def place_flash_order(sale_id: str, buyer_id: str, quantity: int = 1, *,
                      channel_id: str | None = None,
                      idempotency_key: str | None = None,
                      address: m.AddressCreate | Mapping[str, Any] | None = None
                      ) -> Call[m.OrderRead]:
    """Claims units of a flash sale for a buyer (a channel's checkout), delivered to
    ``address`` if given. Safe to retry: the Idempotency-Key (one per call unless given)
    makes a retry the same order."""
    body = {"buyer_id": buyer_id, "quantity": quantity, "channel_id": channel_id,
            **_address(address)}
    return Call("POST", f"/v1/flash-sales/{segment(sale_id)}/orders", model(m.OrderRead),
                json=body, idempotency_key=_key(idempotency_key))


# ---------------------------------------------------------------- orders


def checkout(buyer_id: str, lines: Sequence[tuple[str, int]], *,
             channel_id: str | None = None,
             idempotency_key: str | None = None,
             address: m.AddressCreate | Mapping[str, Any] | None = None) -> Call[m.OrderRead]:
    """An everyday order of one or more lines ((sku_id, quantity); each at the listing's
    price on the channel), reserved all together or not at all, delivered to ``address``
    if given. Safe to retry: the Idempotency-Key (one per call unless given) makes a
    retry the same order."""
    body = {"buyer_id": buyer_id, "channel_id": channel_id,
            "lines": [{"sku_id": sku, "quantity": qty} for sku, qty in lines],
            **_address(address)}
    return Call("POST", "/v1/orders", model(m.OrderRead), json=body,
                idempotency_key=_key(idempotency_key))


def _address(address: m.AddressCreate | Mapping[str, Any] | None) -> dict[str, Any]:
    """The body's ``address`` (left out when None, as older servers expect)."""
    if address is None:
        return {}
    if isinstance(address, m.AddressCreate):
        return {"address": address.model_dump(mode="json", exclude_none=True)}
    return {"address": dict(address)}


def get_order(order_id: str) -> Call[m.OrderRead]:
    """One order."""
    return Call("GET", f"/v1/orders/{segment(order_id)}", model(m.OrderRead))


def orders(*, sale_id: str | None = None, status: m.OrderStatus | str | None = None,
           cursor: str | None = None, limit: int = PAGE_SIZE) -> Call[m.PageReadOrderRead]:
    """The orders the caller may see, optionally of one sale or in one status."""
    params = _page(cursor, limit, sale_id=sale_id,
                   status=str(status) if status is not None else None)
    return Call("GET", "/v1/orders", model(m.PageReadOrderRead), params)


def _order_action(order_id: str, verb: str, key: str | None,
                  body: dict[str, Any] | None = None) -> Call[m.OrderRead]:
    return Call("POST", f"/v1/orders/{segment(order_id)}/{verb}", model(m.OrderRead),
                json=body, idempotency_key=_key(key))


def ship_order(order_id: str, imeis: Sequence[str], *, carrier: str | None = None,
               tracking_number: str | None = None,
               idempotency_key: str | None = None) -> Call[m.OrderRead]:
    """Ships a paid order with the IMEIs of its units (merchant)."""
    return _order_action(order_id, "ship", idempotency_key, {
        "imeis": list(imeis), "carrier": carrier, "tracking_number": tracking_number})


def deliver_order(order_id: str, *, idempotency_key: str | None = None) -> Call[m.OrderRead]:
    """Records that a shipped order reached its buyer."""
    return _order_action(order_id, "deliver", idempotency_key)


def confirm_order(order_id: str, *, idempotency_key: str | None = None) -> Call[m.OrderRead]:
    """The buyer confirms receipt; escrow is released to the merchant."""
    return _order_action(order_id, "confirm", idempotency_key)


def cancel_order(order_id: str, reason: str = "requested", *,
                 idempotency_key: str | None = None) -> Call[m.OrderRead]:
    """Cancels an unpaid order; its units go back on sale."""
    return _order_action(order_id, "cancel", idempotency_key, {"reason": reason})


def refund_order(order_id: str, reason: str = "requested", *,
                 idempotency_key: str | None = None) -> Call[m.OrderRead]:
    """Refunds a paid order before shipment, through its payment provider."""
    return _order_action(order_id, "refund", idempotency_key, {"reason": reason})


def mark_order_paid(order_id: str, *,
                    idempotency_key: str | None = None) -> Call[m.OrderRead]:
    """The operator's override: marks an order paid without a provider (admin)."""
    return _order_action(order_id, "pay", idempotency_key)


# ---------------------------------------------------------------- returns


def request_return(order_id: str, reason: str,
                   units: Sequence[tuple[str, int]] | None = None, *,
                   idempotency_key: str | None = None) -> Call[m.ReturnRead]:
    """The buyer asks units ((sku_id, quantity); None: all) of a delivered order back,
    within the return window."""
    body: dict[str, Any] = {"reason": reason, "units": None if units is None else [
        {"sku_id": sku, "quantity": qty} for sku, qty in units]}
    return Call("POST", f"/v1/orders/{segment(order_id)}/returns", model(m.ReturnRead),
                json=body, idempotency_key=_key(idempotency_key))


def receive_return(return_id: str, units: Sequence[tuple[str, int, int]],
                   imeis: Sequence[str] | None = None, *,
                   idempotency_key: str | None = None) -> Call[m.ReturnRead]:
    """The merchant received a return: (sku_id, resellable, damaged) per SKU. The buyer
    is refunded through the provider; resellable units go back on sale."""
    body: dict[str, Any] = {"imeis": None if imeis is None else list(imeis), "units": [
        {"sku_id": sku, "resellable": ok, "damaged": bad} for sku, ok, bad in units]}
    return Call("POST", f"/v1/returns/{segment(return_id)}/receive", model(m.ReturnRead),
                json=body, idempotency_key=_key(idempotency_key))


def get_return(return_id: str) -> Call[m.ReturnRead]:
    """One return."""
    return Call("GET", f"/v1/returns/{segment(return_id)}", model(m.ReturnRead))


def returns(*, cursor: str | None = None,
            limit: int = PAGE_SIZE) -> Call[m.PageReadReturnRead]:
    """The returns the caller may see."""
    return Call("GET", "/v1/returns", model(m.PageReadReturnRead), _page(cursor, limit))


def ledger_balances(tenant: str | None = None) -> Call[m.LedgerRead]:
    """Escrow ledger balances with the double-entry checks."""
    return Call("GET", "/v1/ledger/balances", model(m.LedgerRead), {"tenant": tenant})


# ---------------------------------------------------------------- payments


def start_payment(order_id: str, provider: str = "sim") -> Call[m.PaymentRead]:
    """Starts paying an order; the buyer pays at the payment's ``pay_url``. Asking again
    hands back the order's open payment."""
    return Call("POST", f"/v1/orders/{segment(order_id)}/payments", model(m.PaymentRead),
                json={"provider": provider})


def pay_with_sim_wallet(token: str) -> Call[m.PaymentRead]:
    """The simulated provider's wallet pays the payment of ``token`` (the provider then
    sends its signed notification, which pays the order)."""
    return Call("POST", f"/v1/payments/sim/{segment(token)}/complete", model(m.PaymentRead))


def notifications(*, verdict: m.Verdict | str | None = None, payment_id: str | None = None,
                  cursor: str | None = None,
                  limit: int = PAGE_SIZE) -> Call[m.PageReadNotificationRead]:
    """The providers' notifications with their verdicts (forged ones included)."""
    params = _page(cursor, limit, verdict=str(verdict) if verdict is not None else None,
                   payment_id=payment_id)
    return Call("GET", "/v1/payments/notifications", model(m.PageReadNotificationRead), params)


# ---------------------------------------------------------------- devices, analytics


def import_devices(csv: str) -> Call[m.ImportRead]:
    """Registers a manufacturing batch (CSV ``imei,model,serial,os_version,api_level``):
    every row or none."""
    return Call("POST", "/v1/devices/import", model(m.ImportRead), content=csv.encode(),
                content_type="text/csv")


def metrics() -> Call[dict[str, Any]]:
    """The analytics metrics and what each takes."""
    return Call("GET", "/v1/analytics", json_object)


def run_metric(metric: str, *, start: datetime | None = None, end: datetime | None = None,
               by: str | None = None, view: str | None = None,
               **filters: str | int) -> Call[dict[str, Any]]:
    """Runs one analytics metric over the caller's tenant (filters such as ``sale_id``)."""
    params: dict[str, Any] = {"start": start.isoformat() if start else None,
                              "end": end.isoformat() if end else None, "by": by, "view": view,
                              **filters}
    return Call("GET", f"/v1/analytics/{segment(metric)}", json_object, params)


# ---------------------------------------------------------------- advertising


def create_advertiser(name: str, domains: Sequence[str],
                      categories: Sequence[str] = ()) -> Call[m.AdvertiserRead]:
    """An advertiser of the tenant (merchant; an advertiser key may create its own)."""
    return Call("POST", "/v1/advertisers", model(m.AdvertiserRead),
                json={"name": name, "domains": list(domains), "categories": list(categories)})


def create_campaign(advertiser_id: str, name: str, *, pricing: m.Pricing | str, bid_fen: int,
                    total_budget_fen: int, daily_budget_fen: int, starts_at: datetime,
                    ends_at: datetime, frequency_cap: int = 0,
                    targeting: m.TargetingIn | Mapping[str, Any] | None = None
                    ) -> Call[m.CampaignRead]:
    """A draft campaign: CPM (``bid_fen`` per 1000 impressions) or CPC (per click), its
    budgets in fen, schedule (aware times), per-user daily cap (0: none), targeting."""
    body: dict[str, Any] = {
        "advertiser_id": advertiser_id, "name": name, "pricing": str(pricing),
        "bid_fen": bid_fen, "total_budget_fen": total_budget_fen,
        "daily_budget_fen": daily_budget_fen, "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(), "frequency_cap": frequency_cap}
    if targeting is not None:
        body["targeting"] = (targeting.model_dump(mode="json", exclude_none=True)
                             if isinstance(targeting, m.TargetingIn) else dict(targeting))
    return Call("POST", "/v1/campaigns", model(m.CampaignRead), json=body)


def get_campaign(campaign_id: str) -> Call[m.CampaignRead]:
    """One campaign."""
    return Call("GET", f"/v1/campaigns/{segment(campaign_id)}", model(m.CampaignRead))


def campaigns(*, advertiser_id: str | None = None,
              status: m.CampaignStatus | str | None = None, cursor: str | None = None,
              limit: int = PAGE_SIZE) -> Call[m.PageReadCampaignRead]:
    """The tenant's campaigns, optionally of one advertiser or in one status."""
    params = _page(cursor, limit, advertiser_id=advertiser_id,
                   status=str(status) if status is not None else None)
    return Call("GET", "/v1/campaigns", model(m.PageReadCampaignRead), params)


def activate_campaign(campaign_id: str) -> Call[m.CampaignRead]:
    """Starts a campaign serving (it needs a creative)."""
    return Call("POST", f"/v1/campaigns/{segment(campaign_id)}/activate",
                model(m.CampaignRead))


def upload_creative_image(image: bytes, media_type: str = "image/png"
                          ) -> Call[m.YunshangMarketingCampaignsApiImageRead]:
    """Uploads a creative's image (PNG or JPEG); its ``sha256`` names it in a creative."""
    return Call("POST", "/v1/creatives/images", model(m.YunshangMarketingCampaignsApiImageRead),
                content=image, content_type=media_type)


def create_creative(campaign_id: str, *, format: m.AdFormat | str, image_sha256: str,
                    landing: tuple[m.LandingKind | str, str], title: str = "", text: str = "",
                    adomain: Sequence[str] | None = None,
                    categories: Sequence[str] = ()) -> Call[m.CreativeRead]:
    """A banner (the image's size) or a native ad (title, text, image) of a campaign,
    landing on ``(kind, target id)``: a listing, an app or a QR code."""
    kind, target = landing
    body: dict[str, Any] = {
        "campaign_id": campaign_id, "format": str(format), "image_sha256": image_sha256,
        "title": title, "text": text, "landing": {"kind": str(kind), "target_id": target},
        "categories": list(categories)}
    if adomain is not None:
        body["adomain"] = list(adomain)
    return Call("POST", "/v1/creatives", model(m.CreativeRead), json=body)


def campaign_report(campaign_id: str) -> Call[m.CampaignReportRead]:
    """A campaign's impressions, clicks, attributed orders, spend, CTR, CVR and ROAS."""
    return Call("GET", f"/v1/campaigns/{segment(campaign_id)}/report",
                model(m.CampaignReportRead))


def _ad_or_none(response: httpx.Response) -> m.AdRead | None:
    return None if response.status_code == 204 else m.AdRead.model_validate_json(
        response.content)


def request_ad(slot_id: str, formats: Sequence[tuple[m.AdFormat | str, int, int]], *,
               province: str | None = None, city: str | None = None,
               imei: str | None = None) -> Call[m.AdRead | None]:
    """A phone's app asks for an ad for its slot (device key): formats as (format, w, h)
    (0 × 0: a native ad of any size). None when no campaign wins the slot (204)."""
    body: dict[str, Any] = {
        "slot_id": slot_id, "formats": [{"format": str(f), "w": w, "h": h}
                                        for f, w, h in formats],
        "province": province, "city": city, "imei": imei}
    return Call("POST", "/v1/ads/requests", _ad_or_none,
                json={k: v for k, v in body.items() if v is not None})


# ---------------------------------------------------------------- drone delivery


def run_delivery_round(runtime_s: float | None = None,
                       seed: int | None = None) -> Call[m.RoundRead]:
    """One dispatch round over the tenant's paid orders not yet dispatched (merchant):
    drone routes, courier fallbacks with their reason, the orders left waiting.
    ``runtime_s`` is the search budget (s; the server's default if None); the same
    orders, fleet and ``seed`` give the same plan."""
    body = {k: v for k, v in (("runtime_s", runtime_s), ("seed", seed)) if v is not None}
    return Call("POST", "/v1/delivery/rounds", model(m.RoundRead), json=body)


def delivery_rounds(*, cursor: str | None = None,
                    limit: int = PAGE_SIZE) -> Call[m.PageReadRoundRead]:
    """The tenant's dispatch rounds."""
    return Call("GET", "/v1/delivery/rounds", model(m.PageReadRoundRead), _page(cursor, limit))


def get_delivery_round(round_id: str) -> Call[m.RoundRead]:
    """One dispatch round: its routes, couriers and waiting orders."""
    return Call("GET", f"/v1/delivery/rounds/{segment(round_id)}", model(m.RoundRead))


def _content(response: httpx.Response) -> bytes:
    return response.content


def delivery_round_map(round_id: str, hub_id: str | None = None) -> Call[bytes]:
    """The round's routes over its hubs and no-fly zones, as SVG bytes; ``hub_id`` draws
    one hub's routes and the zones near it."""
    return Call("GET", f"/v1/delivery/rounds/{segment(round_id)}/map.svg", _content,
                {"hub_id": hub_id})


def track_order(order_id: str) -> Call[m.DeliveryRead]:
    """Where an order's parcel is (its buyer, its channel, the merchant): carrier, drone,
    ETA, delivery. 404 (:class:`~yunshang.client.ApiError`) until a round took it."""
    return Call("GET", f"/v1/orders/{segment(order_id)}/delivery", model(m.DeliveryRead))
