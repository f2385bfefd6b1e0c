"""The committed client models are what the current app's OpenAPI document generates."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gen_client.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_client", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_client", module)
    spec.loader.exec_module(module)
    return module


def test_committed_models_match_the_apps_openapi_document() -> None:
    gen = _generator()
    fresh = gen.generate(gen.openapi_document())
    assert "class OrderRead(BaseModel):" in fresh
    assert gen.MODELS.read_text() == fresh, "the API changed: run `make client` and commit"


def test_the_document_is_dumped_the_same_way_every_time() -> None:
    gen = _generator()
    assert gen.openapi_document() == gen.openapi_document()
