"""Alembic environment: one history for every context's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import yunshang.commerce.store
import yunshang.console.store
import yunshang.devices.appstore.store
import yunshang.devices.ota.store
import yunshang.devices.registry.store
import yunshang.kernel.auth
import yunshang.kernel.idempotency
import yunshang.kernel.outbox
import yunshang.marketing.budgets.store
import yunshang.marketing.campaigns.store
import yunshang.marketing.tracking.store
import yunshang.qr.store  # noqa: F401
from yunshang.kernel.db import metadata

config = context.config
target_metadata = metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


run()
