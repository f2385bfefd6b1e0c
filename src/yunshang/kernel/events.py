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


class RecordsEvents:
    """An aggregate that records its changes as events, for its use case to publish.

    The aggregate (a dataclass) declares ``events`` and ``tenant`` fields and
    says in :meth:`_event_payload` what every one of its events carries.
    """

    __slots__ = ()
    events: list[DomainEvent]
    tenant: str

    def _event_payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def _record(self, name: str, now: datetime, **extra: Any) -> None:
        payload = self._event_payload()
        payload.update(extra)
        self.events.append(DomainEvent(name, self.tenant, now, payload))

    def pull_events(self) -> list[DomainEvent]:
        """The events recorded since the last pull, in order; forgets them."""
        out = self.events.copy()
        self.events.clear()
        return out
