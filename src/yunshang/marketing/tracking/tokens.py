"""Signed tracking ids: what was served travels in the URL, and only we can mint one.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload))``
with the payload a compact JSON array of the :class:`~..domain.Served` fields.
Nothing is written when an ad is served: impression, click and notice URLs
carry the token back, and :meth:`TokenSigner.verify` refuses any token whose
bytes were altered (the signature is compared in constant time). The secret
lives in ``var_dir/keys/tracking.key`` (made on first use, 0600) unless
``YUNSHANG_TRACKING_SECRET`` sets it; rotating it invalidates the URLs already
handed out.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
from datetime import UTC, datetime
from pathlib import Path

import orjson

from yunshang.files import atomic_write, private_dir

from ..domain import Pricing, Served
from ..errors import TrackingIdInvalid

_VERSION = 1
_MAX_TOKEN = 2048  # a real token is ~300 characters; longer is not ours


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Mints and checks tracking ids with one HMAC secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("a tracking secret is at least 32 bytes")
        self._secret = secret

    @classmethod
    def from_key_dir(cls, key_dir: Path) -> TokenSigner:
        """The signer whose secret is ``key_dir/tracking.key``, made on first use."""
        path = key_dir / "tracking.key"
        if not path.exists():
            private_dir(key_dir)
            # every process of one deployment must sign alike: the first writer's key stays
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(os.urandom(32).hex().encode())
        secret = path.read_bytes().strip()
        if len(secret) < 32:  # a crash between create and write left it short: replace it
            atomic_write(path, os.urandom(32).hex().encode(), mode=0o600)
            secret = path.read_bytes().strip()
        return cls(secret)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def sign(self, served: Served) -> str:
        payload = orjson.dumps([
            _VERSION, served.impression_id, served.tenant, served.campaign_id,
            served.creative_id, served.pricing.value, served.price_cpm_fen,
            served.click_price_fen, served.source,
            int(served.served_at.timestamp() * 1000), served.device_id, served.account_id,
            served.user_key, served.channel_id, served.deal_id, served.extra or None])
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, field: str = "token") -> Served:
        """The :class:`Served` a token says, or TrackingIdInvalid naming ``field``."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise TrackingIdInvalid(field)
        body, mac = token.split(".")
        try:
            payload, signature = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise TrackingIdInvalid(field) from None
        # The decoder skips characters outside the alphabet and ignores a last character's
        # unused bits: only the canonical spelling of the bytes is ours.
        if _b64(payload) != body or _b64(signature) != mac:
            raise TrackingIdInvalid(field)
        if not hmac.compare_digest(signature, self._mac(payload)):
            raise TrackingIdInvalid(field)
        try:
            (version, impression_id, tenant, campaign_id, creative_id, pricing, price_cpm,
             click_price, source, served_ms, device_id, account_id, user_key, channel_id,
             deal_id, extra) = orjson.loads(payload)
            if version != _VERSION:
                raise ValueError(version)
            return Served(
                impression_id=impression_id, tenant=tenant, campaign_id=campaign_id,
                creative_id=creative_id, pricing=Pricing(pricing), price_cpm_fen=price_cpm,
                click_price_fen=click_price, source=source,
                served_at=datetime.fromtimestamp(served_ms / 1000, UTC), device_id=device_id,
                account_id=account_id, user_key=user_key, channel_id=channel_id,
                deal_id=deal_id, extra=dict(extra or {}))
        except (ValueError, TypeError):  # signed by us, but by another version of the format
            raise TrackingIdInvalid(field) from None
