"""Signed tracking ids: round trip, and every alteration refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from yunshang.marketing import Pricing, Served
from yunshang.marketing.errors import TrackingIdInvalid
from yunshang.marketing.tracking import TokenSigner

SERVED = Served(impression_id="imp_1", tenant="t1", campaign_id="cmp_1", creative_id="crt_1",
                pricing=Pricing.CPM, price_cpm_fen=1234, click_price_fen=0, source="own",
                served_at=datetime(2026, 11, 28, 12, 0, 0, 123000, tzinfo=UTC),
                device_id="dev_1", account_id=None, user_key="dev_1")


def test_a_token_says_what_was_served(tmp_path: Path) -> None:
    signer = TokenSigner.from_key_dir(tmp_path / "keys")
    assert signer.verify(signer.sign(SERVED)) == SERVED
    # the same key file signs alike in another process
    assert TokenSigner.from_key_dir(tmp_path / "keys").verify(signer.sign(SERVED)) == SERVED
    assert (tmp_path / "keys" / "tracking.key").stat().st_mode & 0o777 == 0o600


def test_every_altered_byte_is_refused() -> None:
    signer = TokenSigner(b"k" * 32)
    token = signer.sign(SERVED)
    for i in range(len(token)):
        altered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        with pytest.raises(TrackingIdInvalid) as caught:
            signer.verify(altered, field="t")
        assert caught.value.data["field"] == "t"


@pytest.mark.parametrize("token", ["", ".", "abc", "a.b.c", "x" * 5000, "%%%.%%%"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TrackingIdInvalid):
        TokenSigner(b"k" * 32).verify(token)


def test_another_secret_cannot_mint_ours() -> None:
    forged = TokenSigner(b"f" * 32).sign(SERVED)
    with pytest.raises(TrackingIdInvalid):
        TokenSigner(b"k" * 32).verify(forged)


def test_other_spellings_of_the_same_bytes_are_refused() -> None:
    """base64 decoders skip characters outside the alphabet and ignore a last character's
    unused bits; a token spelled differently is still an altered token."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    signer = TokenSigner(b"k" * 32)
    token = signer.sign(SERVED)
    last = alphabet.index(token[-1])
    same_bits = [alphabet[i] for i in range(last & ~3, (last & ~3) + 4) if i != last]
    spellings = [token[:-1] + c for c in same_bits]
    spellings += [token[:5] + junk + token[5:] for junk in ("!!!!", "%%%%", "    ", "\n\n\n\n")]
    for spelling in spellings:
        with pytest.raises(TrackingIdInvalid):
            signer.verify(spelling)
