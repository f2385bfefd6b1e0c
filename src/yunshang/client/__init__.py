"""A typed Python client for the Yunshang API, sync (:class:`Client`) and asyncio
(:class:`AsyncClient`), on httpx. It imports nothing of the server.

Both offer the same methods (``create_product``, ``place_flash_order``,
``ship_order``, ``iter_orders``, …), described once in :mod:`._requests`.
Answers are pydantic models generated from the OpenAPI document
(:mod:`yunshang.client.models`, ``make client``); a refusal raises
:class:`ApiError` with the server's problem document. POSTs that move stock or
money carry an ``Idempotency-Key`` (a fresh one per call unless given), so they
are retried like reads: after a 429 or 503 (honouring ``Retry-After``) or a
lost connection, a bounded number of times (:class:`Retries`).
"""

from __future__ import annotations

from . import models
from ._async import AsyncClient
from ._call import Call, Retries
from ._errors import ApiError
from ._requests import NewSku
from ._sync import Client

__all__ = ["ApiError", "AsyncClient", "Call", "Client", "NewSku", "Retries", "models"]
