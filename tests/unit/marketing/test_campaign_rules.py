"""Campaign, targeting, creative and image rules, without a database."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from yunshang.kernel.errors import InvalidInput, InvalidState
from yunshang.marketing.campaigns.domain import (
    CampaignTerms,
    CreativeText,
    check_categories,
    check_domains,
    check_landing,
    make_targeting,
    next_status,
)
from yunshang.marketing.campaigns.errors import ImageInvalid
from yunshang.marketing.campaigns.images import inspect_image
from yunshang.marketing.domain import AdFormat, CampaignStatus, LandingKind, Pricing

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def terms(**kw: object) -> CampaignTerms:
    base: dict[str, object] = {"pricing": Pricing.CPM, "bid_fen": 2_000,
                               "total_budget_fen": 1_000_000, "daily_budget_fen": 100_000,
                               "starts_at": NOW, "ends_at": NOW + timedelta(days=10),
                               "frequency_cap": 3}
    base.update(kw)
    return CampaignTerms(**base)  # type: ignore[arg-type]


def test_sound_terms_pass() -> None:
    terms().check()
    terms(daily_budget_fen=1_000_000, frequency_cap=0).check()  # daily = total, no cap


@pytest.mark.parametrize(("change", "field"), [
    ({"bid_fen": 0}, "bid_fen"),
    ({"bid_fen": -5}, "bid_fen"),
    ({"bid_fen": 10**13}, "bid_fen"),
    ({"total_budget_fen": 0}, "total_budget_fen"),
    ({"daily_budget_fen": 0}, "daily_budget_fen"),
    ({"daily_budget_fen": 1_000_001}, "daily_budget_fen"),
    ({"ends_at": NOW}, "ends_at"),
    ({"ends_at": NOW - timedelta(seconds=1)}, "ends_at"),
    ({"frequency_cap": -1}, "frequency_cap"),
    ({"frequency_cap": 1001}, "frequency_cap"),
])
def test_bad_terms_name_their_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        terms(**change).check()
    assert err.value.field == field


def test_daily_budget_over_total_has_its_own_code() -> None:
    with pytest.raises(InvalidInput) as err:
        terms(daily_budget_fen=2_000_000).check()
    assert err.value.code == "daily_budget_exceeds_total"


def test_targeting_checks_os_versions_and_bounds() -> None:
    t = make_targeting(provinces=["广东", "广东"], os_min="10.0", os_max="12.1.3",
                       installed_apps=["com.meizu.music"])
    assert t.provinces == frozenset({"广东"})
    for kw, field in [({"os_min": "ten"}, "targeting.os_min"),
                      ({"os_max": "1..2"}, "targeting.os_max"),
                      ({"os_min": "12", "os_max": "10.9"}, "targeting.os_max"),
                      ({"cities": [""]}, "targeting.cities[0]"),
                      ({"models": ["x" * 101]}, "targeting.models[0]"),
                      ({"segments": [f"s{i}" for i in range(501)]}, "targeting.segments"),
                      ({"installed_apps": ["not a package"]}, "targeting.installed_apps")]:
        with pytest.raises(InvalidInput) as err:
            make_targeting(**kw)  # type: ignore[arg-type]
        assert err.value.field == field, kw


def test_domains_and_iab_categories() -> None:
    assert check_domains(["Meizu.COM", "meizu.com", "shop.meizu.cn"]) == ("meizu.com",
                                                                          "shop.meizu.cn")
    assert check_categories(["IAB19", "IAB19-2", "IAB3"]) == ("IAB19", "IAB19-2", "IAB3")
    for bad in (["http://meizu.com"], ["meizu"], ["-a.com"], ["a b.com"]):
        with pytest.raises(InvalidInput) as err:
            check_domains(bad)
        assert err.value.field == "domains[0]"
    for cat in ("IAB", "iab19", "IAB19-", "IAB0", "IAB19-2-1", "IAB100"):
        with pytest.raises(InvalidInput) as err:
            check_categories(["IAB1", cat])
        assert err.value.field == "categories[1]"
    with pytest.raises(InvalidInput) as err:
        check_domains([f"d{i}.com" for i in range(21)])
    assert err.value.field == "domains"


def test_state_machine() -> None:
    later = NOW + timedelta(days=1)

    def move(status: CampaignStatus, action: str, creatives: int = 1,
             ends_at: datetime = later) -> CampaignStatus:
        return next_status("cmp_1", status, action, creatives=creatives, ends_at=ends_at,
                           now=NOW)

    assert move(CampaignStatus.DRAFT, "activate") is CampaignStatus.ACTIVE
    assert move(CampaignStatus.ACTIVE, "pause") is CampaignStatus.PAUSED
    assert move(CampaignStatus.PAUSED, "activate") is CampaignStatus.ACTIVE
    for status in (CampaignStatus.DRAFT, CampaignStatus.ACTIVE, CampaignStatus.PAUSED):
        assert move(status, "end") is CampaignStatus.ENDED
    refused = [(CampaignStatus.ACTIVE, "activate"), (CampaignStatus.DRAFT, "pause"),
               (CampaignStatus.PAUSED, "pause"), (CampaignStatus.ENDED, "activate"),
               (CampaignStatus.ENDED, "pause"), (CampaignStatus.ENDED, "end")]
    for status, action in refused:
        with pytest.raises(InvalidState) as err:
            move(status, action)
        assert err.value.code == "invalid_campaign_transition"
    with pytest.raises(InvalidState) as err:
        move(CampaignStatus.DRAFT, "activate", creatives=0)
    assert err.value.code == "campaign_has_no_creative"
    with pytest.raises(InvalidState) as err:
        move(CampaignStatus.PAUSED, "activate", ends_at=NOW)
    assert err.value.code == "campaign_schedule_over"


def test_landing_shapes() -> None:
    assert check_landing(LandingKind.QR, "MZ20-launch").target_id == "MZ20-launch"
    assert check_landing(LandingKind.APP, "com.meizu.music").kind is LandingKind.APP
    for kind, target in [(LandingKind.LISTING, "sku_123"), (LandingKind.APP, "music"),
                         (LandingKind.QR, "a b"), (LandingKind.QR, "abc")]:
        with pytest.raises(InvalidInput) as err:
            check_landing(kind, target)
        assert err.value.field == "landing.target_id"


def test_creative_words() -> None:
    CreativeText(AdFormat.NATIVE, "New Meizu 22", "Out on 11.11").check()
    CreativeText(AdFormat.BANNER, "", "").check()
    for words, field in [(CreativeText(AdFormat.NATIVE, " ", ""), "title"),
                         (CreativeText(AdFormat.BANNER, "", "body"), "text"),
                         (CreativeText(AdFormat.NATIVE, "t" * 91, ""), "title"),
                         (CreativeText(AdFormat.NATIVE, "t", "x" * 301), "text"),
                         (CreativeText(AdFormat.VIDEO, "t", ""), "format")]:
        with pytest.raises(InvalidInput) as err:
            words.check()
        assert err.value.field == field


def image(fmt: str = "PNG", size: tuple[int, int] = (320, 50)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def test_images_decode_as_their_type() -> None:
    assert inspect_image(image(), "image/png").width == 320
    assert inspect_image(image("JPEG", (300, 250)), "image/jpeg").height == 250
    for data, media in [(image("JPEG"), "image/png"), (image(), "image/jpeg"),
                        (b"GIF89a" + b"\0" * 100, "image/png"), (image()[:60], "image/png")]:
        with pytest.raises(ImageInvalid):
            inspect_image(data, media)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(ImageInvalid, match="4097"):
        inspect_image(image("PNG", (4097, 10)), "image/png")
    # A 20000×20000 one-bit PNG compresses to a few KB but would decode to 400 MB; its
    # header alone refuses it.
    huge = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(huge, "PNG")
    with pytest.raises(ImageInvalid):
        inspect_image(huge.getvalue(), "image/png")
