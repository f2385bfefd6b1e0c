"""``sim``: the built-in simulated payment provider, shaped like the big Chinese ones.

It hands out a payment token and a pay URL, and when the (simulated) buyer pays it
sends an asynchronous notification: form parameters signed with RSA-SHA256 (PKCS#1
v1.5, base64) over the canonical string (sorted ``k=v`` joined by ``&``, without
``sign``/``sign_type`` and empty values), as Alipay's ``RSA2`` notifications are.

Two halves, as in real life. :class:`SimGateway` is the provider's side: it holds
the provider's private key and signs. :class:`SimProvider` is the platform's
adapter: it holds only the provider's public key (Alipay's "alipay public key") and
verifies. The key pair is made on first use under ``<var_dir>/payments/sim/``
(directory 0700, private key 0600); in a real deployment the private half would
never be on our machine.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from yunshang.kernel.money import Money

from .domain import PaymentIntent, VerifiedNotification, canonical_string
from .errors import BadSignature, MalformedNotification
from .provider import PaymentProvider

SIM = "sim"
#: The platform's application id at the simulated provider (Alipay's ``app_id``).
APP_ID = "2026111100000001"
SIGN_TYPE = "RSA2"
_PRIVATE, _PUBLIC = "provider_private.pem", "provider_public.pem"
_AMOUNT = re.compile(r"^[0-9]{1,15}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TRADE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REQUIRED = ("app_id", "out_trade_no", "trade_no", "total_amount", "currency", "trade_status")


def _write_once(path: Path, data: bytes) -> None:
    """Writes ``path`` 0600 unless it exists (another process won the race: theirs stays)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        # another process linked its key first: theirs stays, so every process signs alike
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def ensure_key_pair(key_dir: Path) -> None:
    """The simulated provider's RSA key pair under ``key_dir``, made on first use."""
    if (key_dir / _PUBLIC).exists():
        return
    key_dir.mkdir(parents=True, exist_ok=True)
    key_dir.chmod(0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_once(key_dir / _PRIVATE, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    # The public key is derived from whichever private key won a race.
    private = serialization.load_pem_private_key((key_dir / _PRIVATE).read_bytes(), None)
    _write_once(key_dir / _PUBLIC, private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


class SimGateway:
    """The provider's side: signs the notifications of payments its buyers complete."""

    def __init__(self, key_dir: Path, app_id: str) -> None:
        self.key_dir = key_dir
        self.app_id = app_id
        self._key: rsa.RSAPrivateKey | None = None
        self._lock = threading.Lock()

    def _private(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                ensure_key_pair(self.key_dir)
                key = serialization.load_pem_private_key(
                    (self.key_dir / _PRIVATE).read_bytes(), None)
                assert isinstance(key, rsa.RSAPrivateKey)
                self._key = key
            return self._key

    def sign(self, params: Mapping[str, str]) -> dict[str, str]:
        """``params`` with ``sign_type`` and their ``sign``."""
        signature = self._private().sign(canonical_string(params).encode(),
                                         padding.PKCS1v15(), hashes.SHA256())
        return {**params, "sign_type": SIGN_TYPE, "sign": base64.b64encode(signature).decode()}

    def notification(self, *, out_trade_no: str, amount: Money, now: datetime,
                     trade_no: str | None = None,
                     trade_status: str = "TRADE_SUCCESS") -> dict[str, str]:
        """The signed notification the provider sends once the buyer paid."""
        return self.sign({
            "app_id": self.app_id, "notify_id": secrets.token_hex(16),
            "notify_time": now.strftime("%Y-%m-%d %H:%M:%S"), "notify_type": "trade_status_sync",
            "out_trade_no": out_trade_no, "trade_no": trade_no or f"sim{secrets.token_hex(12)}",
            "total_amount": str(amount.amount), "currency": amount.currency,
            "trade_status": trade_status, "charset": "utf-8", "version": "1.0",
        })


class SimProvider:
    """The platform's adapter for ``sim``: verifies with the provider's public key only."""

    name = SIM

    def __init__(self, key_dir: Path, app_id: str, pay_url_base: str = "/v1/payments/sim") -> None:
        self.key_dir = key_dir
        self.app_id = app_id
        self.pay_url_base = pay_url_base
        self._public: rsa.RSAPublicKey | None = None
        self._lock = threading.Lock()

    def _public_key(self) -> rsa.RSAPublicKey:
        with self._lock:
            if self._public is None:
                ensure_key_pair(self.key_dir)
                key = serialization.load_pem_public_key((self.key_dir / _PUBLIC).read_bytes())
                assert isinstance(key, rsa.RSAPublicKey)
                self._public = key
            return self._public

    def create_payment(self, *, payment_id: str, amount: Money,  # noqa: ARG002
                       subject: str) -> PaymentIntent:  # noqa: ARG002
        # The simulated provider learns the payment only from its token (see SimGateway).
        token = secrets.token_urlsafe(24)
        return PaymentIntent(token=token, pay_url=f"{self.pay_url_base}/{token}")

    def verify_notification(self, params: Mapping[str, str]) -> VerifiedNotification:
        sign = params.get("sign", "")
        if not sign:
            raise BadSignature(self.name, "it carries no sign")
        if params.get("sign_type") != SIGN_TYPE:
            raise BadSignature(self.name, f"sign_type must be {SIGN_TYPE}")
        try:
            signature = base64.b64decode(sign, validate=True)
            self._public_key().verify(signature, canonical_string(params).encode(),
                                      padding.PKCS1v15(), hashes.SHA256())
        except (binascii.Error, ValueError, InvalidSignature):
            raise BadSignature(self.name, "forged, or altered after signing") from None
        for name in REQUIRED:
            if not params.get(name):
                raise MalformedNotification(name, f"a signed notification lacks {name}")
        if params["app_id"] != self.app_id:
            raise MalformedNotification("app_id", "the notification is for another app")
        checks = (("total_amount", _AMOUNT, "an amount in fen"),
                  ("currency", _CURRENCY, "an ISO currency"),
                  ("trade_no", _TRADE, "a trade number"),
                  ("out_trade_no", _TRADE, "a payment id"))
        for name, pattern, what in checks:
            if not pattern.match(params[name]):
                raise MalformedNotification(name, f"{name} is not {what}")
        return VerifiedNotification(
            out_trade_no=params["out_trade_no"], trade_no=params["trade_no"],
            amount=int(params["total_amount"]), currency=params["currency"],
            trade_status=params["trade_status"])

    def refund(self, *, payment_id: str, trade_no: str, amount: Money,  # noqa: ARG002
               reason: str) -> str:  # noqa: ARG002
        # The simulated provider always has the money to give back; the request number
        # (``payment_id``) would make a retried refund the same refund at a real one.
        return f"simrf_{payment_id.removeprefix('pay_')}"


def payment_providers(key_root: Path, *, sim: bool
                      ) -> tuple[dict[str, PaymentProvider], SimGateway | None]:
    """The providers the platform takes payments through, and the simulated provider's own
    side when ``sim`` is on (its keys under ``key_root/sim``)."""
    if not sim:
        return {}, None
    return ({SIM: SimProvider(key_root / SIM, APP_ID)}, SimGateway(key_root / SIM, APP_ID))
