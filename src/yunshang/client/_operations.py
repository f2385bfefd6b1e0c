"""The operations both clients offer, each declared once from its request builder."""

from __future__ import annotations

from . import _requests as r
from ._descriptors import Operation, Paginated


class Operations:
    """Every operation, as methods of :class:`~yunshang.client.Client` (answers) and of
    :class:`~yunshang.client.AsyncClient` (awaitables); ``iter_*`` walk whole lists."""

    create_product = Operation(r.create_product)
    get_product = Operation(r.get_product)
    list_products = Operation(r.products)
    iter_products = Paginated(r.products)
    restock = Operation(r.restock)
    create_channel = Operation(r.create_channel)
    list_channels = Operation(r.channels)
    iter_channels = Paginated(r.channels)
    create_listing = Operation(r.create_listing)
    list_listings = Operation(r.listings)
    iter_listings = Paginated(r.listings)
    create_flash_sale = Operation(r.create_flash_sale)
    get_flash_sale = Operation(r.get_flash_sale)
    list_flash_sales = Operation(r.flash_sales)
    iter_flash_sales = Paginated(r.flash_sales)
    place_flash_order = Operation(r.place_flash_order)
    checkout = Operation(r.checkout)
    get_order = Operation(r.get_order)
    list_orders = Operation(r.orders)
    iter_orders = Paginated(r.orders)
    ship_order = Operation(r.ship_order)
    deliver_order = Operation(r.deliver_order)
    confirm_order = Operation(r.confirm_order)
    cancel_order = Operation(r.cancel_order)
    refund_order = Operation(r.refund_order)
    mark_order_paid = Operation(r.mark_order_paid)
    request_return = Operation(r.request_return)
    receive_return = Operation(r.receive_return)
    get_return = Operation(r.get_return)
    list_returns = Operation(r.returns)
    iter_returns = Paginated(r.returns)
    ledger_balances = Operation(r.ledger_balances)
    start_payment = Operation(r.start_payment)
    pay_with_sim_wallet = Operation(r.pay_with_sim_wallet)
    list_notifications = Operation(r.notifications)
    iter_notifications = Paginated(r.notifications)
    import_devices = Operation(r.import_devices)
    list_metrics = Operation(r.metrics)
    run_metric = Operation(r.run_metric)
    create_advertiser = Operation(r.create_advertiser)
    create_campaign = Operation(r.create_campaign)
    get_campaign = Operation(r.get_campaign)
    list_campaigns = Operation(r.campaigns)
    iter_campaigns = Paginated(r.campaigns)
    activate_campaign = Operation(r.activate_campaign)
    upload_creative_image = Operation(r.upload_creative_image)
    create_creative = Operation(r.create_creative)
    campaign_report = Operation(r.campaign_report)
    request_ad = Operation(r.request_ad)
