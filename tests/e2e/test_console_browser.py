"""The web console as its users meet it: Debian's chromium, driven by Playwright.

Against a real server (``console_world``: a seeded platform served in a thread on a
free port) each test does what a person would: signs in with a key through the form,
watches the flash-sale counter move while orders come in through the API, pauses an
OS rollout with its button, makes a QR code from an uploaded picture, changes an
analytics chart's time range, signs out. Every page is screenshotted at laptop and
phone size under ``var/console-screenshots/`` (a test artefact) and checked with
axe-core: no serious or critical violation.

Sign-ins are limited per client address (10 at once), so the signed-in tests reuse
one session per key (its cookies), signed in through the form once.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from tests.e2e.browser_support import (
    SALE_UNITS,
    SCREENSHOTS,
    TENANT,
    VIEWPORTS,
    ConsoleWorld,
    axe_violations,
    describe,
)

pytestmark = [pytest.mark.browser]

#: The console's sections, as its nav names them (a tenant's admin sees them all).
SECTIONS = ("Overview", "Products", "Listings", "Orders", "Devices", "Rollouts", "Apps",
            "Campaigns", "QR codes", "Deliveries", "Analytics")
NAV = "nav[aria-label]"


def sign_in(page: Page, key: str, *, next_path: str = "/") -> None:
    """Through the form, as a person does; ends on the page ``next_path`` named."""
    page.goto(f"/sign-in?next={next_path}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture(scope="module")
def sessions(browser: Any, console_world: ConsoleWorld) -> Callable[[str], Any]:
    """``sessions(who)``: the cookies of a session signed in with ``who``'s key through the
    form (once per key in this module), as Playwright's storage state."""
    states: dict[str, Any] = {}

    def state(who: str) -> Any:
        if who not in states:
            context = browser.new_context(base_url=console_world.url)
            try:
                sign_in(context.new_page(), console_world.keys[who])
                states[who] = context.storage_state()
            finally:
                context.close()
        return states[who]

    return state


@pytest.fixture
def as_user(browser: Any, console_world: ConsoleWorld,
            sessions: Callable[[str], Any]) -> Iterator[Callable[..., Page]]:
    """``as_user(who, viewport="desktop")``: a page in a context signed in as ``who``."""
    contexts: list[Any] = []

    def open_page(who: str, viewport: str = "desktop") -> Page:
        context = browser.new_context(base_url=console_world.url,
                                      viewport=VIEWPORTS[viewport], storage_state=sessions(who))
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def open_section(page: Page, label: str) -> None:
    """Goes to a section the way a user does: its link in the nav."""
    if not page.url.startswith("http"):
        page.goto("/")
    page.locator(NAV).get_by_role("link", name=label, exact=True).click()
    expect(page.locator(NAV).get_by_role("link", name=label, exact=True)).to_have_attribute(
        "aria-current", "page")


# ----------------------------------------------------------------------------- signing in


def test_sign_in_with_a_key_through_the_form_and_sign_out(browser_page: Page,
                                                           console_world: ConsoleWorld) -> None:
    page = browser_page
    # a page of the console sends whoever is not signed in to the form, and back after
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=(/|%2F)$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # a wrong key is refused next to its field, which is named
    page.get_by_label("API key").fill("ys_key_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    field = page.get_by_label("API key")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("form")).to_contain_text("not accepted")
    assert page.get_by_role("button", name="Sign out").count() == 0

    page.get_by_label("API key").fill(console_world.keys["merchant"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(console_world.url + "/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text(f"Signed in as {TENANT}")
    # the session cookie is out of the page's scripts' reach and never sent cross-site;
    # the key itself is nowhere in the browser
    cookies = page.context.cookies()
    session = [c for c in cookies if c["httpOnly"] and c["sameSite"] == "Strict"
               and c["path"] == "/"]
    assert session, cookies
    assert all(console_world.keys["merchant"] not in c["value"] for c in cookies)
    assert page.evaluate("document.cookie") == ""

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.get_by_role("status").first).to_contain_text("Signed out")
    # the old cookie opens nothing any more
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def _tab_until(page: Page, predicate: str, *, limit: int = 40) -> list[str]:
    """Presses Tab until ``predicate`` (a JS expression on ``el``, the focused element)
    holds; returns what got the focus on the way (tag: accessible text)."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(
            "() => { const el = document.activeElement;"
            " return el.tagName + ': ' + (el.innerText || el.getAttribute('aria-label')"
            " || el.name || '').trim(); }"))
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!({predicate}); }}"):
            return seen
    raise AssertionError(f"Tab never reached {predicate}; focus went: {seen}")


def _focus_is_visible(page: Page) -> bool:
    return bool(page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)"
        " || s.boxShadow !== 'none'; }"))


def test_the_sign_in_form_and_the_nav_work_from_the_keyboard(browser_page: Page,
                                                            console_world: ConsoleWorld) -> None:
    page = browser_page
    page.goto("/sign-in")
    # the first Tab reaches the skip link, then the key's field, then the button
    seen = _tab_until(page, "el.classList.contains('skip-link') || el.href", limit=3)
    assert "Skip to content" in seen[0], seen
    _tab_until(page, "el.name === 'api_key'")
    assert _focus_is_visible(page)
    page.keyboard.type(console_world.keys["admin"])
    _tab_until(page, "el.tagName === 'BUTTON' && el.innerText.trim() === 'Sign in'", limit=3)
    assert _focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    # every section of the nav is reached by Tab, in order, each with a visible focus
    labels = page.locator(NAV).get_by_role("link").all_inner_texts()
    assert labels, "the nav has no links"
    page.locator("body").click(position={"x": 1, "y": 1})
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached: list[str] = []
    for label in labels:
        _tab_until(page, f"el.closest('{NAV}') && el.innerText.trim() === {label!r}")
        assert _focus_is_visible(page), f"no visible focus on the nav's {label!r}"
        reached.append(label)
    assert reached == labels
    # and Enter follows the focused link
    page.keyboard.press("Enter")
    expect(page.locator(NAV).get_by_role("link", name=labels[-1], exact=True)).to_have_attribute(
        "aria-current", "page")


# ----------------------------------------------------------------------------- live numbers


def _sold(world: ConsoleWorld) -> int:
    r = httpx.get(f"{world.url}/v1/flash-sales/{world.ids['sale']}", headers=world.api("merchant"))
    assert r.status_code == 200, r.text
    return int(r.json()["sold"])


def test_the_flash_sale_counter_moves_without_reloading(as_user: Callable[..., Page],
                                                        console_world: ConsoleWorld) -> None:
    page = as_user("merchant")
    page.goto("/")
    counter = page.locator(f"[data-sale='{console_world.ids['sale']}'] [data-counter='sold']")
    before = _sold(console_world)
    expect(counter).to_have_text(f"{before:,}")
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads

    # buyers order through the API (a marketplace's checkout) while the page stays open
    orders = 7
    answers: list[int] = []

    def rush() -> None:
        with httpx.Client(base_url=console_world.url, headers=console_world.api("channel"),
                          timeout=10) as client:
            for i in range(orders):
                answers.append(client.post(
                    f"/v1/flash-sales/{console_world.ids['sale']}/orders",
                    json={"buyer_id": f"live-{i}", "quantity": 1},
                    headers={"Idempotency-Key": f"live-{i}"}).status_code)

    buyers = threading.Thread(target=rush)
    buyers.start()
    buyers.join(timeout=30)
    assert answers == [201] * orders
    after = _sold(console_world)
    assert after == before + orders
    expect(counter).to_have_text(f"{after:,}", timeout=15_000)
    left = page.locator(f"[data-sale='{console_world.ids['sale']}'] [data-counter='left']")
    expect(left).to_have_text(f"{SALE_UNITS - after:,}")
    assert page.evaluate("() => window.__sameDocument === true"), "the page reloaded"


# ----------------------------------------------------------------------------- actions


def _rollout_state(world: ConsoleWorld) -> str:
    r = httpx.get(f"{world.url}/v1/rollouts/{world.ids['rollout']}", headers=world.api("merchant"))
    assert r.status_code == 200, r.text
    return str(r.json()["state"])


def test_pause_and_resume_a_rollout_with_its_buttons(as_user: Callable[..., Page],
                                                     console_world: ConsoleWorld) -> None:
    page = as_user("merchant")
    open_section(page, "Rollouts")
    rollout = console_world.ids["rollout"]
    panel = page.locator("main section").filter(has_text=rollout).first
    expect(panel).to_contain_text(re.compile(r"\brunning\b"))
    assert _rollout_state(console_world) == "running"
    page.evaluate("() => { window.__sameDocument = true; }")

    panel.get_by_role("button", name=re.compile(rf"^Pause\b.*{rollout}")).click()
    expect(panel).to_contain_text(re.compile(r"\bpaused\b"))
    assert _rollout_state(console_world) == "paused"
    expect(panel.get_by_role("button", name=re.compile(r"^Pause\b"))).to_have_count(0)

    panel.get_by_role("button", name=re.compile(rf"^Resume\b.*{rollout}")).click()
    expect(panel).to_contain_text(re.compile(r"\brunning\b"))
    assert _rollout_state(console_world) == "running"
    expect(panel.get_by_role("button", name=re.compile(r"^Pause\b"))).to_be_visible()


def _phone_picture() -> bytes:
    """A photo-like picture of a phone to put in the QR code."""
    img = Image.new("RGB", (480, 480), (236, 240, 246))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((150, 40, 330, 440), radius=28, fill=(24, 28, 40))
    draw.rounded_rectangle((162, 70, 318, 400), radius=10, fill=(60, 130, 220))
    draw.ellipse((225, 410, 255, 430), fill=(90, 90, 100))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_make_a_qr_code_from_an_uploaded_picture(as_user: Callable[..., Page],
                                                 console_world: ConsoleWorld) -> None:
    page = as_user("merchant")
    open_section(page, "QR codes")
    page.get_by_role("link", name=re.compile(r"make a visual QR code", re.I)).click()
    page.get_by_label("Picture").set_input_files(
        {"name": "phone.png", "mimeType": "image/png", "buffer": _phone_picture()})
    # what the code leads to: the launch poster's short code (the Tmall listing)
    page.get_by_label("Short code").select_option(console_world.ids["qr"])
    page.get_by_role("button", name="Make the code").click()

    picture = page.get_by_role("img", name=re.compile(r"QR", re.I)).first
    expect(picture).to_be_visible()
    expect(picture).to_have_js_property("complete", True)
    assert picture.evaluate("el => el.naturalWidth") >= 100
    # the picture shown is a QR code that reads back to the platform's short link
    shot = Image.open(io.BytesIO(picture.screenshot())).convert("L")
    texts = [r.text for r in zxingcpp.read_barcodes(shot)]
    assert any(f"{console_world.url}/q/" in t for t in texts), texts


#: a chart's figures as Chart.js holds them (what it draws)
CHART_DATA = "c => JSON.stringify([Chart.getChart(c).data.labels, " \
    "Chart.getChart(c).data.datasets.map(d => d.data)])"


def _change_chart_range(page: Page) -> None:
    """Picks another time range for the page's first chart; its drawing and its table
    (the chart's text alternative) both change."""
    figure = page.locator("figure.chart").first
    expect(figure.locator("table")).to_be_visible()  # drawn, figures in
    canvas = figure.locator("canvas")
    page.wait_for_function("c => window.Chart && Chart.getChart(c) !== undefined",
                           arg=canvas.element_handle())
    drawn = canvas.evaluate(CHART_DATA)
    table = figure.locator("table tbody").inner_text()

    main = page.locator("main")
    span = main.get_by_label(re.compile(r"^range", re.I))
    if span.count():  # a choice of ranges
        current = span.first.input_value()
        options = [o for o in span.first.locator("option").evaluate_all(
            "os => os.map(o => o.value)") if o != current]
        span.first.select_option(options[0])  # the first other one: a shorter range, as a rule
        form = span.first.locator("xpath=ancestor::form")
    else:  # a start date: the last week only
        start = main.get_by_label(re.compile(r"^from", re.I)).first
        start.fill((datetime.now(UTC) - timedelta(days=7)).date().isoformat())
        form = start.locator("xpath=ancestor::form")
    form.get_by_role("button").first.click()

    figure = page.locator("figure.chart").first
    expect(figure.locator("table tbody")).not_to_have_text(table, timeout=10_000)
    page.wait_for_function(f"c => window.Chart && Chart.getChart(c) !== undefined"
                           f" && ({CHART_DATA})(c) !== {json.dumps(drawn)}",
                           arg=figure.locator("canvas").element_handle())


def test_change_an_analytics_charts_time_range(as_user: Callable[..., Page]) -> None:
    page = as_user("merchant")
    open_section(page, "Analytics")
    if page.locator("figure.chart").count() == 0:  # one page per metric: open the first
        page.locator("main").get_by_role("link").first.click()
    _change_chart_range(page)


def test_change_the_os_adoption_curves_range(as_user: Callable[..., Page]) -> None:
    page = as_user("merchant")
    open_section(page, "Rollouts")
    _change_chart_range(page)


# ----------------------------------------------------------------------------- tenants


def test_another_tenants_order_is_not_found_by_editing_the_url(
        as_user: Callable[..., Page], console_world: ConsoleWorld) -> None:
    page = as_user("other")
    response = page.goto(f"/orders/{console_world.ids['order']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_contain_text("Not found")
    for secret in ("alice", console_world.ids["imei"], "Century Avenue"):
        expect(page.locator("main")).not_to_contain_text(secret)
    # its own order opens
    response = page.goto(f"/orders/{console_world.ids['other_order']}")
    assert response is not None and response.status == 200


# ----------------------------------------------------------------------------- every page


def _check_page(page: Page, name: str, viewport: str) -> list[str]:
    """Screenshot, accessibility and size checks of the page shown; returns problems."""
    problems = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-{viewport}.png", full_page=True)
    violations = axe_violations(page)
    if violations:
        problems.append(f"{name} ({viewport}): axe\n{describe(violations)}")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        problems.append(f"{name} ({viewport}): the page is {overflow}px wider than the screen")
    took = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                         " return n ? n.responseEnd - n.requestStart : 0; }")
    if took > 1000:
        problems.append(f"{name} ({viewport}): the server took {took:.0f} ms to answer")
    return problems


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def test_the_sign_in_page_screenshots_and_accessibility(browser: Any,
                                                        console_world: ConsoleWorld) -> None:
    problems = []
    for viewport, size in VIEWPORTS.items():
        context = browser.new_context(base_url=console_world.url, viewport=size)
        try:
            page = context.new_page()
            page.goto("/sign-in")
            problems += _check_page(page, "sign-in", viewport)
            # with the error shown next to its field, too
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
            problems += _check_page(page, "sign-in-error", viewport)
        finally:
            context.close()
    assert not problems, "\n".join(problems)


def test_the_nav_shows_every_section_to_a_tenants_admin(as_user: Callable[..., Page]) -> None:
    page = as_user("admin")
    page.goto("/")
    labels = page.locator(NAV).get_by_role("link").all_inner_texts()
    assert [s for s in SECTIONS if s not in labels] == [], labels


@pytest.mark.parametrize("section", SECTIONS)
def test_every_section_screenshots_and_accessibility(as_user: Callable[..., Page],
                                                     section: str) -> None:
    problems = []
    for viewport in VIEWPORTS:
        page = as_user("admin", viewport)
        page.goto("/")
        if viewport == "phone":  # the nav may fold behind a menu button on a phone
            menu = page.get_by_role("button", name=re.compile(r"menu", re.I))
            if menu.count() and menu.first.is_visible():
                menu.first.click()
        open_section(page, section)
        expect(page.locator("main h1")).to_be_visible()
        problems += _check_page(page, _slug(section), viewport)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("what", ["order", "product", "rollout", "app", "qr", "campaign"])
def test_detail_pages_screenshots_and_accessibility(as_user: Callable[..., Page],
                                                    console_world: ConsoleWorld,
                                                    what: str) -> None:
    """The pages one object at a time, reached by following its link from its list."""
    section = {"order": "Orders", "product": "Products", "rollout": "Rollouts", "app": "Apps",
               "qr": "QR codes", "campaign": "Campaigns"}[what]
    object_id = console_world.ids[what]
    problems = []
    for viewport in VIEWPORTS:
        page = as_user("admin", viewport)
        page.goto("/")
        href = page.locator(NAV).get_by_role("link", name=section, exact=True).get_attribute("href")
        page.goto(href or "/")
        page.locator(f"main a[href*='{object_id}']").first.click()
        expect(page).to_have_url(re.compile(re.escape(object_id)))
        expect(page.locator("main h1")).to_be_visible()
        problems += _check_page(page, f"{_slug(section)}-{what}", viewport)
    assert not problems, "\n".join(problems)


def test_the_order_detail_shows_its_timeline_of_events(as_user: Callable[..., Page],
                                                       console_world: ConsoleWorld) -> None:
    page = as_user("merchant")
    open_section(page, "Orders")
    page.locator(f"main a[href*='{console_world.ids['order']}']").first.click()
    timeline = page.get_by_role("table", name=re.compile(r"Events recorded about order"))
    expect(timeline).to_be_visible()
    # created → paid → shipped → delivered, oldest first, as the outbox recorded them
    events = " ".join(timeline.locator("tbody tr").all_inner_texts())
    steps = [events.find(f"order_{s}") for s in ("created", "paid", "shipped", "delivered")]
    assert all(i >= 0 for i in steps) and steps == sorted(steps), events
    expect(page.locator("main")).to_contain_text(console_world.ids["imei"])
