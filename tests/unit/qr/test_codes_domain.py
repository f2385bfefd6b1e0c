"""Short codes' rules: the redirect allow-list, where each kind lands, coarse places."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from yunshang.kernel.errors import InvalidInput
from yunshang.qr import CodeState, ShortCode, TargetKind, TargetNotAllowed, target_url
from yunshang.qr.domain import (
    check_platform_target,
    check_url_target,
    coarse_place,
    new_code,
    normal_code,
    short_user_agent,
)

DOMAINS = ("meizu.com", "flyme.cn")


@pytest.mark.parametrize(("url", "expected"), [
    ("https://meizu.com/22", "https://meizu.com/22"),
    ("https://www.meizu.com/22?from=poster#buy", "https://www.meizu.com/22?from=poster#buy"),
    ("HTTPS://MEIZU.COM/Phone", "https://meizu.com/Phone"),  # scheme and host case-folded
    ("https://flyme.cn", "https://flyme.cn/"),
    ("https://meizu.com/手机", "https://meizu.com/%E6%89%8B%E6%9C%BA"),
])
def test_urls_on_verified_domains_are_rebuilt_from_their_parts(url: str, expected: str) -> None:
    assert check_url_target(url, DOMAINS) == expected


@pytest.mark.parametrize("url", [
    "https://meizu.com@evil.com/",  # user info: the host is evil.com
    "https://user:pw@meizu.com/",
    "//evil.com/x",  # scheme-relative
    "/relative/path",
    "javascript:alert(1)",
    "JavaScript://meizu.com/%0aalert(1)",
    "http://meizu.com/",  # not https
    "data:text/html,hi",
    "https://evil.com/meizu.com",
    "https://evilmeizu.com/",  # a suffix, not a sub-domain
    "https://meizu.com.evil.com/",
    "https://meizu.com:8443/",  # a port
    "https://meizu.com:443/",
    "https://mеizu.com/",  # Cyrillic е: its xn-- form is another domain
    "https://127.0.0.1/",
    "https://[::1]/",
    "https://meizu.com\\@evil.com/",  # browsers read a backslash as a slash
    "https://meizu.com/\nLocation: https://evil.com",
    "https://meizu.com/ a",
    "https:///meizu.com",
    "https://meizu.com./",
    "",
])
def test_tricky_urls_are_refused_naming_the_target(url: str) -> None:
    with pytest.raises(TargetNotAllowed) as refused:
        check_url_target(url, DOMAINS)
    assert refused.value.field == "target"
    assert refused.value.code == "target_not_allowed"


def test_an_internationalised_verified_domain_matches_its_xn_form() -> None:
    assert check_url_target("https://例え.jp/x", ("xn--r8jz45g.jp",)) == "https://xn--r8jz45g.jp/x"


def test_a_url_needs_some_verified_domain() -> None:
    with pytest.raises(TargetNotAllowed):
        check_url_target("https://meizu.com/", ())


@pytest.mark.parametrize(("kind", "target"), [
    (TargetKind.LISTING, "sku_1"), (TargetKind.APP, "notapackage"),
    (TargetKind.CAMPAIGN, "https://meizu.com"), (TargetKind.DEVICE, "12345"),
    (TargetKind.LISTING, "lst_1/../x"),
])
def test_platform_targets_of_the_wrong_shape_are_refused(kind: TargetKind, target: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_platform_target(kind, target)
    assert refused.value.field == "target"


@pytest.mark.parametrize(("kind", "target", "url"), [
    (TargetKind.LISTING, "lst_1", "https://ys.example.cn/shop/listings/lst_1"),
    (TargetKind.APP, "com.meizu.flyme", "https://ys.example.cn/store/apps/com.meizu.flyme"),
    (TargetKind.CAMPAIGN, "cmp_1", "https://ys.example.cn/promo/campaigns/cmp_1"),
    (TargetKind.DEVICE, "864512050000014", "https://ys.example.cn/setup/864512050000014"),
    (TargetKind.URL, "https://meizu.com/22", "https://meizu.com/22"),
])
def test_every_kind_lands_on_its_page(kind: TargetKind, target: str, url: str) -> None:
    assert target_url(kind, target, {}, "https://ys.example.cn/") == url


def test_templates_given_replace_the_defaults() -> None:
    assert target_url(TargetKind.LISTING, "lst_1", {"listing": "https://m.shop.cn/p/{target}"},
                      "https://ys.example.cn") == "https://m.shop.cn/p/lst_1"


def test_codes_are_short_random_and_read_in_any_case() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(normal_code(c) == c for c in codes)
    code = next(iter(codes))
    assert normal_code(code.upper()) == code
    assert normal_code("abc") is None and normal_code("abcdefg1") is None


def test_a_scan_place_is_coarse_and_never_refused() -> None:
    place = coarse_place(lat="22.54312", lon="114.05791", province="广东", city="深圳")
    assert (place.lat, place.lon, place.province, place.city) == (22.54, 114.06, "广东", "深圳")
    junk = coarse_place(lat="nan", lon="1e999", province="\x00", city="x" * 100)
    assert (junk.lat, junk.lon, junk.province) == (None, None, None)
    assert junk.city == "x" * 40
    assert coarse_place(lat="91", lon="0", province=None, city=None).lat is None
    assert coarse_place(lat="10", lon=None, province=None, city=None).lat is None
    assert short_user_agent("a" * 500) == "a" * 200 and short_user_agent(None) is None


def test_a_code_is_disabled_or_expired() -> None:
    now = datetime(2026, 11, 11, tzinfo=UTC)
    code = ShortCode(id="qr_1", tenant="t", code="abcdefgh", label="", enabled=True,
                     target_kind=TargetKind.LISTING, target="lst_1", advertiser_id=None,
                     campaign_id=None, channel_id=None, expires_at=now + timedelta(hours=1),
                     created_at=now)
    assert code.state(now) is CodeState.ACTIVE
    assert code.state(now + timedelta(hours=1)) is CodeState.EXPIRED
    assert replace(code, enabled=False).state(now) is CodeState.DISABLED
