"""Signing in to the console with an API key, the session cookie, CSRF and signing out."""

from __future__ import annotations

from http.cookies import SimpleCookie

from tests.conftest import PlatformFactory
from tests.http_support import open_client
from tests.integration.console.support import form_token, sign_in
from yunshang.kernel.auth import Role


def _cookie(set_cookies: list[str], name: str) -> str:
    return next(c for c in set_cookies if c.startswith(f"{name}="))


def test_sign_in_sets_a_strict_http_only_session_cookie_and_sign_out_ends_it(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    with open_client(platform) as client:
        r = client.get("/?view=today", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/sign-in?next=/%3Fview%3Dtoday"
        pre = form_token(client.get("/sign-in").text)
        r = client.post("/sign-in", data={"api_key": key.token, "csrf_token": pre,
                                          "next": "/"}, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/"
        cookie = _cookie(r.headers.get_list("set-cookie"), "ys_console")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/;" in cookie or cookie.endswith("Path=/")
        assert "Secure" not in cookie  # plain http here; https below
        session_id = SimpleCookie(cookie)["ys_console"].value
        assert len(session_id) >= 40
        assert key.token not in cookie
        page = client.get("/")
        assert page.status_code == 200
        assert "Signed in as acme (merchant)." in page.text
        assert "acme" in page.text
        csrf = form_token(page.text)

        r = client.post("/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/sign-in"
        # the old cookie opens nothing any more, even sent again by hand
        client.cookies.set("ys_console", session_id)
        assert client.get("/", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_secure_over_https(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    with open_client(platform) as client:
        client.base_url = client.base_url.copy_with(scheme="https")
        form = client.get("/sign-in")
        assert "Secure" in _cookie(form.headers.get_list("set-cookie"), "ys_console_signin")
        r = client.post("/sign-in", data={"api_key": key.token,
                                          "csrf_token": form_token(form.text)},
                        follow_redirects=False)
        assert r.status_code == 303
        assert "Secure" in _cookie(r.headers.get_list("set-cookie"), "ys_console")


def test_the_session_is_stored_hashed_never_the_cookie_or_the_key(
        make_platform: PlatformFactory) -> None:
    from yunshang.console import console_sessions

    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    with open_client(platform) as client:
        sign_in(client, key.token)
        session_id = client.cookies["ys_console"]
    with platform.db.read() as conn:
        rows = conn.execute(console_sessions.select()).all()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0])
    assert session_id not in stored
    assert key.token.rsplit("_", 1)[1] not in stored
    assert rows[0].key_id == key.principal.key_id
    assert (rows[0].expires_at - rows[0].created_at).total_seconds() == 8 * 3600


def test_a_wrong_key_is_refused_without_saying_whether_it_exists(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    real = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    revoked = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    platform.keys.revoke(revoked.principal.key_id)
    key_id = real.principal.key_id
    with open_client(platform) as client:
        answers = []
        for wrong in (f"ys_{key_id}_not-the-secret", "ys_key_01NOSUCHKEY0000000000000_x",
                      revoked.token):
            pre = form_token(client.get("/sign-in").text)
            r = client.post("/sign-in", data={"api_key": wrong, "csrf_token": pre})
            assert r.status_code == 401
            assert 'aria-invalid="true"' in r.text
            answers.append(r.text.split('id="api_key-error"')[1].split("</p>")[0])
            assert "ys_console" not in client.cookies
        assert len(set(answers)) == 1  # the same words whatever was wrong
        assert "not accepted" in answers[0]
        pre = form_token(client.get("/sign-in").text)
        r = client.post("/sign-in", data={"api_key": "hunter2", "csrf_token": pre})
        assert r.status_code == 422
        assert "API key:" in r.text and "start with ys_key_" in r.text


def test_a_buyer_key_cannot_use_the_console(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    buyer = platform.keys.create(role=Role.BUYER, tenant="acme", subject="alice")
    with open_client(platform) as client:
        pre = form_token(client.get("/sign-in").text)
        r = client.post("/sign-in", data={"api_key": buyer.token, "csrf_token": pre})
        assert r.status_code == 403
        assert "buyer key cannot use the console" in r.text
        assert "ys_console" not in client.cookies


def test_the_sign_in_form_needs_its_own_token(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    with open_client(platform) as client:
        client.get("/sign-in")
        r = client.post("/sign-in", data={"api_key": key.token, "csrf_token": "forged"})
        assert r.status_code == 403
        assert "ys_console" not in client.cookies


def test_sign_in_attempts_are_limited_per_address(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    with open_client(platform) as client:
        statuses = []
        for _ in range(12):
            pre = form_token(client.get("/sign-in").text)
            r = client.post("/sign-in", data={"api_key": "ys_key_01X_y", "csrf_token": pre})
            statuses.append(r.status_code)
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429, 429]
        assert "Too many sign-in attempts" in r.text
        assert int(r.headers["Retry-After"]) >= 1


def test_a_revoked_key_ends_its_sessions(make_platform: PlatformFactory) -> None:
    from yunshang.console import console_sessions

    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    with open_client(platform) as client:
        sign_in(client, key.token)
        assert client.get("/", follow_redirects=False).status_code == 200
        platform.keys.revoke(key.principal.key_id)
        r = client.get("/", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/sign-in")
    with platform.db.read() as conn:
        assert conn.execute(console_sessions.select()).all() == []


def test_a_session_expires(make_platform: PlatformFactory, clock) -> None:
    from datetime import timedelta

    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    with open_client(platform) as client:
        sign_in(client, key.token)
        clock.advance(timedelta(hours=8))
        assert client.get("/", follow_redirects=False).status_code == 303


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
        make_platform: PlatformFactory) -> None:
    from yunshang.console import console_sessions

    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    with open_client(platform) as client:
        csrf = sign_in(client, key.token)
        for sent in ({}, {"csrf_token": "wrong"}, {"csrf_token": csrf[:-1]}):
            r = client.post("/sign-out", data=sent, follow_redirects=False)
            assert r.status_code == 403
            assert "nothing was changed" in r.text
        r = client.post("/sign-out", headers={"X-CSRF-Token": "wrong"},
                        follow_redirects=False)
        assert r.status_code == 403
        with platform.db.read() as conn:
            assert len(conn.execute(console_sessions.select()).all()) == 1
        assert client.get("/", follow_redirects=False).status_code == 200
        # htmx sends the token as a header
        r = client.post("/sign-out", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        with platform.db.read() as conn:
            assert conn.execute(console_sessions.select()).all() == []


def test_next_never_leads_off_the_site(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    with open_client(platform) as client:
        pre = form_token(client.get("/sign-in").text)
        r = client.post("/sign-in", data={"api_key": key.token, "csrf_token": pre,
                                          "next": "//evil.example/x"}, follow_redirects=False)
        assert r.headers["location"] == "/"


def test_console_answers_carry_the_security_headers_and_api_answers_do_not_change(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    with open_client(platform) as client:
        for path in ("/sign-in", "/", "/static/console.css"):
            r = client.get(path, follow_redirects=False)
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "same-origin"
            assert r.headers["x-content-type-options"] == "nosniff"
        page = client.get("/sign-in").text
        assert "<script>" not in page and "onclick" not in page  # no inline script
        api = client.get("/healthz")
        assert api.status_code == 200
        assert "content-security-policy" not in api.headers
        assert client.get("/v1/orders").status_code == 401  # still the API's, not a page
        assert client.get("/v1/orders").headers["content-type"].startswith(
            "application/problem+json")
