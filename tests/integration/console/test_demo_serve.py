"""``yunshang demo --serve``: the printed address and key sign in to the served console."""

from __future__ import annotations

import io
import re

import httpx
from rich.console import Console

from tests.conftest import PlatformFactory
from yunshang.launch.server import ConsoleInvitation, LocalServer, serve_console

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_the_printed_key_signs_in_at_the_printed_address(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    out = io.StringIO()
    seen: list[str] = []

    def explore(invitation: ConsoleInvitation) -> None:
        printed = out.getvalue()
        assert invitation.url in printed
        assert invitation.merchant_key in printed
        with httpx.Client(base_url=invitation.url) as browser:
            form = browser.get("/sign-in")
            r = browser.post("/sign-in", data={
                "api_key": invitation.merchant_key,
                "csrf_token": TOKEN.search(form.text).group(1)})  # type: ignore[union-attr]
            assert r.status_code == 303
            page = browser.get("/")
            assert page.status_code == 200
            seen.append(page.text)

    with LocalServer(platform) as server:
        invitation = serve_console(Console(file=out, width=200), platform, server.url,
                                   "meizu", wait=explore)
    assert "Overview: meizu" in seen[0]
    # the keys lived as long as the server did
    assert [k for k in platform.keys.list_keys()
            if k.principal.key_id in invitation.merchant_key] == []
