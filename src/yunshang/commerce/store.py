"""Commerce tables and the repository functions that map rows to domain objects."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
)

from yunshang.kernel.clock import ensure_utc, ensure_utc_or_none
from yunshang.kernel.money import Money
from yunshang.kernel.pagination import Page, PageRequest, make_page
from yunshang.kernel.sql import (
    BigSerial,
    id_column,
    metadata,
    save_moved,
    tenant_column,
    time_column,
)
from yunshang.kernel.tenancy import owned_row

from .address import MAX_REGION, MAX_STREET, DeliveryAddress
from .domain import (
    Channel,
    ChannelKind,
    FlashSale,
    JournalEntry,
    Listing,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Sku,
    StockMode,
)

T = TypeVar("T")

products = Table(
    "products",
    metadata,
    id_column(),
    tenant_column(index=True),
    Column("name", String(200), nullable=False),
    Column("brand", String(100), nullable=False),
    time_column("created_at"),
)

skus = Table(
    "skus",
    metadata,
    id_column(),
    Column("product_id", String(40), ForeignKey("products.id"), nullable=False, index=True),
    tenant_column(),
    Column("color", String(60), nullable=False),
    Column("storage_gb", Integer, nullable=False),
    Column("price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("stock", Integer, nullable=False),
    CheckConstraint("stock >= 0", name="stock_non_negative"),
    UniqueConstraint("product_id", "color", "storage_gb", name="uq_skus_variant"),
)

channels = Table(
    "channels",
    metadata,
    id_column(),
    tenant_column(index=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    time_column("created_at"),
    UniqueConstraint("tenant", "name", name="uq_channels_tenant_name"),
)

listings = Table(
    "listings",
    metadata,
    id_column(),
    tenant_column(index=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), nullable=False),
    Column("channel_id", String(40), ForeignKey("channels.id"), nullable=False),
    Column("price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("stock_mode", String(20), nullable=False),
    Column("allocated", Integer, nullable=False, server_default="0"),
    time_column("created_at"),
    UniqueConstraint("sku_id", "channel_id", name="uq_listings_sku_channel"),
    CheckConstraint("allocated >= 0", name="allocated_non_negative"),
)

flash_sales = Table(
    "flash_sales",
    metadata,
    id_column(),
    tenant_column(index=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), nullable=False),
    Column("channel_ids", JSON, nullable=False),
    Column("price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("per_buyer_limit", Integer, nullable=False),
    time_column("starts_at"),
    time_column("ends_at"),
    Column("sold", Integer, nullable=False, server_default="0"),
    time_column("created_at"),
    # The last line of defence against overselling, whatever engine admitted the order.
    CheckConstraint("sold >= 0 AND sold <= quantity", name="sold_within_quantity"),
)

flash_sale_buyers = Table(
    "flash_sale_buyers",
    metadata,
    Column("sale_id", String(40), ForeignKey("flash_sales.id"), primary_key=True),
    Column("buyer_id", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity >= 0", name="buyer_quantity_non_negative"),
)

orders = Table(
    "orders",
    metadata,
    id_column(),
    tenant_column(),
    Column("sale_id", String(40), ForeignKey("flash_sales.id"), nullable=True),
    Column("sku_id", String(40), nullable=False),
    Column("channel_id", String(40), nullable=False),
    Column("buyer_id", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    time_column("created_at"),
    time_column("expires_at"),
    time_column("paid_at", nullable=True),
    time_column("shipped_at", nullable=True),
    time_column("delivered_at", nullable=True),
    time_column("completed_at", nullable=True),
    time_column("cancelled_at", nullable=True),
    time_column("refunded_at", nullable=True),
    Column("imeis", JSON, nullable=False),
    Column("carrier", String(100)),
    Column("tracking_number", String(100)),
    Column("reason", String(200)),
    # the delivery address (all null for an order placed without one)
    Column("address_province", String(MAX_REGION)),
    Column("address_city", String(MAX_REGION)),
    Column("address_district", String(MAX_REGION)),
    Column("address_street", String(MAX_STREET)),
    Column("address_lat", Double),
    Column("address_lon", Double),
    Index("ix_orders_tenant_id", "tenant", "id"),
    Index("ix_orders_status_expires", "status", "expires_at"),
    Index("ix_orders_status_delivered", "status", "delivered_at"),
    Index("ix_orders_sale", "sale_id"),
)

#: The lines of everyday (checkout) orders; a flash order's one line is its own row.
order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku_id", String(40), nullable=False),
    Column("listing_id", String(40), nullable=False),
    Column("stock_mode", String(20), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    CheckConstraint("quantity >= 1", name="line_quantity_positive"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    id_column(),
    tenant_column(),
    Column("kind", String(20), nullable=False),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    time_column("occurred_at"),
    UniqueConstraint("order_id", "kind", name="uq_journal_order_kind"),
)

postings = Table(
    "postings",
    metadata,
    Column("id", BigSerial, primary_key=True, autoincrement=True),
    Column("entry_id", String(40), ForeignKey("journal_entries.id"), nullable=False, index=True),
    tenant_column(),
    Column("account", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Index("ix_postings_balance", "tenant", "account", "currency"),
)


# --------------------------------------------------------------------------- mapping


def _money(amount: int, currency: str) -> Money:
    return Money(int(amount), currency)


def product_from_rows(row: Any, sku_rows: Sequence[Any]) -> Product:
    return Product(
        id=row.id,
        tenant=row.tenant,
        name=row.name,
        brand=row.brand,
        created_at=ensure_utc(row.created_at),
        skus=tuple(
            Sku(
                id=s.id,
                product_id=s.product_id,
                color=s.color,
                storage_gb=s.storage_gb,
                price=_money(s.price_amount, s.currency),
                stock=s.stock,
            )
            for s in sku_rows
        ),
    )


def channel_from_row(row: Any) -> Channel:
    return Channel(
        id=row.id,
        tenant=row.tenant,
        name=row.name,
        kind=ChannelKind(row.kind),
        created_at=ensure_utc(row.created_at),
    )


def listing_from_row(row: Any) -> Listing:
    return Listing(
        id=row.id,
        tenant=row.tenant,
        sku_id=row.sku_id,
        channel_id=row.channel_id,
        price=_money(row.price_amount, row.currency),
        stock_mode=StockMode(row.stock_mode),
        allocated=row.allocated,
        created_at=ensure_utc(row.created_at),
    )


def sale_from_row(row: Any) -> FlashSale:
    return FlashSale(
        id=row.id,
        tenant=row.tenant,
        sku_id=row.sku_id,
        channel_ids=tuple(row.channel_ids),
        price=_money(row.price_amount, row.currency),
        quantity=row.quantity,
        per_buyer_limit=row.per_buyer_limit,
        starts_at=ensure_utc(row.starts_at),
        ends_at=ensure_utc(row.ends_at),
        sold=row.sold,
        created_at=ensure_utc_or_none(row.created_at),
    )


def order_from_row(row: Any) -> Order:
    return Order(
        id=row.id,
        tenant=row.tenant,
        sale_id=row.sale_id,
        sku_id=row.sku_id,
        channel_id=row.channel_id,
        buyer_id=row.buyer_id,
        quantity=row.quantity,
        unit_price=_money(row.unit_amount, row.currency),
        status=OrderStatus(row.status),
        created_at=ensure_utc(row.created_at),
        expires_at=ensure_utc(row.expires_at),
        paid_at=ensure_utc_or_none(row.paid_at),
        shipped_at=ensure_utc_or_none(row.shipped_at),
        delivered_at=ensure_utc_or_none(row.delivered_at),
        completed_at=ensure_utc_or_none(row.completed_at),
        cancelled_at=ensure_utc_or_none(row.cancelled_at),
        refunded_at=ensure_utc_or_none(row.refunded_at),
        imeis=tuple(row.imeis or ()),
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        reason=row.reason,
        address=_address(row),
    )


def _address(row: Any) -> DeliveryAddress | None:
    if row.address_province is None:
        return None
    return DeliveryAddress(province=row.address_province, city=row.address_city,
                           district=row.address_district, street=row.address_street,
                           lat=row.address_lat, lon=row.address_lon)


def order_values(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "tenant": order.tenant,
        "sale_id": order.sale_id,
        "sku_id": order.sku_id,
        "channel_id": order.channel_id,
        "buyer_id": order.buyer_id,
        "quantity": order.quantity,
        "unit_amount": order.unit_price.amount,
        "currency": order.unit_price.currency,
        "status": order.status.value,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "shipped_at": order.shipped_at,
        "delivered_at": order.delivered_at,
        "completed_at": order.completed_at,
        "cancelled_at": order.cancelled_at,
        "refunded_at": order.refunded_at,
        "imeis": list(order.imeis),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "reason": order.reason,
        **_address_values(order.address),
    }


def _address_values(address: DeliveryAddress | None) -> dict[str, Any]:
    if address is None:
        return dict.fromkeys(_ADDRESS_COLUMNS)
    return {"address_province": address.province, "address_city": address.city,
            "address_district": address.district, "address_street": address.street,
            "address_lat": address.lat, "address_lon": address.lon}


_ADDRESS_COLUMNS = ("address_province", "address_city", "address_district", "address_street",
                    "address_lat", "address_lon")


# --------------------------------------------------------------------------- repositories


def load_product(conn: Connection, product_id: str, tenant: str | None) -> Product:
    row = owned_row(conn, products, product_id, tenant, "product")
    sku_rows = conn.execute(
        select(skus).where(skus.c.product_id == product_id).order_by(skus.c.id)
    ).all()
    return product_from_rows(row, sku_rows)


def load_order(conn: Connection, order_id: str, tenant: str | None, *, lock: bool = False) -> Order:
    """An order ``tenant`` owns (None: any tenant), with its lines; a miss names the
    ``order_id`` field."""
    order = order_from_row(owned_row(conn, orders, order_id, tenant, "order", field="order_id",
                                     lock=lock))
    return with_lines(conn, [order])[0]


def with_lines(conn: Connection, found: list[Order]) -> list[Order]:
    """``found`` with each everyday order's checkout lines (one query; flash orders, which
    have a ``sale_id``, have no line rows and are left as they are)."""
    wanted = [o.id for o in found if o.sale_id is None]
    if not wanted:
        return found
    by_order: dict[str, list[OrderLine]] = {}
    for row in conn.execute(select(order_lines).where(order_lines.c.order_id.in_(wanted))
                            .order_by(order_lines.c.order_id, order_lines.c.line_no)):
        by_order.setdefault(row.order_id, []).append(OrderLine(
            sku_id=row.sku_id, quantity=row.quantity,
            unit_price=_money(row.unit_amount, row.currency), listing_id=row.listing_id,
            stock_mode=StockMode(row.stock_mode)))
    for order in found:
        if order.id in by_order:
            order.checkout_lines = tuple(by_order[order.id])
    return found


_INSERT_LINES = order_lines.insert()


def insert_order_lines(conn: Connection, order: Order) -> None:
    conn.execute(_INSERT_LINES, [
        {"order_id": order.id, "line_no": i, "sku_id": line.sku_id,
         "listing_id": line.listing_id, "stock_mode": (line.stock_mode or StockMode.SHARED).value,
         "quantity": line.quantity, "unit_amount": line.unit_price.amount,
         "currency": line.unit_price.currency}
        for i, line in enumerate(order.checkout_lines)])


def sku_model(conn: Connection, sku_id: str) -> str:
    """The phone model a SKU is a variant of: its product's name, the model the device
    registry's manufacturing batches name."""
    return str(conn.execute(select(products.c.name).join(skus, skus.c.product_id == products.c.id)
                            .where(skus.c.id == sku_id)).scalar_one())


def save_order_transition(conn: Connection, order: Order, previous: OrderStatus) -> None:
    """Writes an order whose status moved (guarded: no lost update)."""
    save_moved(conn, orders, order_values(order), previous_status=previous.value, what="order")


def insert_journal(conn: Connection, entry: JournalEntry) -> None:
    conn.execute(
        journal_entries.insert().values(
            id=entry.id,
            tenant=entry.tenant,
            kind=entry.kind,
            order_id=entry.order_id,
            occurred_at=entry.occurred_at,
        )
    )
    conn.execute(
        postings.insert(),
        [
            {
                "entry_id": entry.id,
                "tenant": entry.tenant,
                "account": p.account.value,
                "currency": p.amount.currency,
                "amount": p.amount.amount,
            }
            for p in entry.postings
        ],
    )


def ledger_sums(conn: Connection, tenant: str | None) -> list[Any]:
    stmt = select(
        postings.c.tenant, postings.c.account, postings.c.currency, func.sum(postings.c.amount)
    ).group_by(postings.c.tenant, postings.c.account, postings.c.currency)
    if tenant is not None:
        stmt = stmt.where(postings.c.tenant == tenant)
    return list(conn.execute(stmt.order_by(postings.c.tenant, postings.c.account)))


def unbalanced_entries(conn: Connection, tenant: str | None) -> int:
    sums = (
        select(postings.c.entry_id, postings.c.currency, func.sum(postings.c.amount).label("s"))
        .group_by(postings.c.entry_id, postings.c.currency)
    )
    if tenant is not None:
        sums = sums.where(postings.c.tenant == tenant)
    sub = sums.subquery()
    return int(conn.execute(select(func.count()).select_from(sub).where(sub.c.s != 0)).scalar_one())


def paged(conn: Connection, table: Table, tenant: str | None, req: PageRequest,
          from_row: Callable[[Any], T], *filters: Any) -> Page[T]:
    """A page of ``table``'s rows in id order, limited to ``tenant`` (None: all) and
    ``filters``, each row made an item by ``from_row``."""
    stmt = select(table)
    if tenant is not None:
        stmt = stmt.where(table.c.tenant == tenant)
    for f in filters:
        stmt = stmt.where(f)
    if req.after is not None:
        stmt = stmt.where(table.c.id > req.after)
    rows = make_page(list(conn.execute(stmt.order_by(table.c.id).limit(req.limit + 1))), req,
                     lambda r: r.id)
    return Page(items=[from_row(r) for r in rows.items], next_cursor=rows.next_cursor)
