"""Signing a test client into the console, and reading what its pages show."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = TOKEN.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, api_key: str, next_path: str = "/") -> str:
    """Signs ``client`` in with ``api_key``; returns the session's CSRF token."""
    pre = form_token(client.get("/sign-in").text)
    r = client.post("/sign-in", data={"api_key": api_key, "csrf_token": pre,
                                      "next": next_path}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/")
    assert page.status_code == 200, page.text
    return form_token(page.text)


def figure(html: str, name: str) -> str:
    """The text of the element marked ``data-figure="<name>"``."""
    found = re.search(rf'data-figure="{re.escape(name)}">([^<]*)<', html)
    assert found, f"no figure {name!r} on the page"
    return found.group(1)
