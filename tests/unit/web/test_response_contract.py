"""The response-contract check catches a handler that drifts from its documented model."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from tests.http_support import ResponseContract, TestClient
from yunshang.web import JsonResponse


class ThingRead(BaseModel):
    id: str
    n: int


def _client(body: dict[str, Any]) -> tuple[TestClient, ResponseContract]:
    app = FastAPI()

    @app.get("/things/{tid}", response_model=ThingRead)
    def thing(tid: str) -> JsonResponse:
        return JsonResponse(body)

    contract = ResponseContract(app)
    client = TestClient(app)
    client.event_hooks = {"response": [contract.check]}
    return client, contract


def test_a_body_that_matches_its_model_passes_and_is_recorded() -> None:
    client, contract = _client({"id": "t1", "n": 1})
    assert client.get("/things/t1").json() == {"id": "t1", "n": 1}
    assert contract.checked == {"GET /things/{tid}"}


@pytest.mark.parametrize("body", [{"id": "t1"}, {"id": "t1", "n": "many"},
                                  {"id": "t1", "n": 1, "secret": "undocumented"}])
def test_a_body_that_drifts_from_its_model_fails(body: dict[str, Any]) -> None:
    client, _ = _client(body)
    with pytest.raises(AssertionError, match="/things/t1"):
        client.get("/things/t1")
