"""Domain events: what happened, named ``context.noun_verb_past``, versioned."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .ids import new_id


@dataclass(frozen=True, slots=True)
class DomainEvent:
    name: str
    tenant: str
    occurred_at: datetime
    payload: dict[str, Any]
    version: int = 1
    id: str = field(default_factory=lambda: new_id("evt"))

    def __post_init__(self) -> None:
        context, _, rest = self.name.partition(".")
        if not context or not rest or "." in rest:
            raise ValueError(f"event name must be 'context.noun_verb_past', got {self.name!r}")
