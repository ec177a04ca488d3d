"""What the compatibility endpoints share: a product's description (its prefix, endpoints,
operations and error body), asking SpanTally's own operations for the figures, and entities.

A compatibility operation parses its product's parameters by its own spec.Endpoint, asks the
native operations (analytics.OPERATIONS, runs.OPERATIONS) the same question with typed
arguments, and reshapes their answers: every figure is the native endpoint's, by
construction, and the tests check it from outside too."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final

from spantally.common.errors import InvalidArgument
from spantally.store import Entity, Filters

from ..operation import Answer, Context, Operation
from ..routes import OPERATIONS
from ..spec import FILTERS, Args, Endpoint, endpoint_named

__all__ = ["Asker", "Product", "closed", "day_range", "entity_of", "native_filters"]

_PARAM_OF_FIELD: Final = {f.field: f.param.name for f in FILTERS}


@dataclass(frozen=True, slots=True)
class Product:
    """One product's API as SpanTally answers it under `prefix`."""

    name: str
    title: str
    reference: str
    """The document in shared/reference it follows."""
    prefix: str
    endpoints: tuple[Endpoint, ...]
    """Paths relative to `prefix`."""
    operations: Mapping[str, Operation]
    error_body: Callable[[str, str], dict[str, Any]]
    """The body of an error (code, message) in the product's style."""

    def path(self, endpoint: Endpoint) -> str:
        return self.prefix + endpoint.path


class Asker:
    """Asks the native operations, naming this product's parameters in their errors."""

    def __init__(self, ctx: Context, renames: Mapping[str, str]) -> None:
        self.ctx = ctx
        self._renames = renames

    async def ask(self, operation: str, **values: Any) -> dict[str, Any]:
        """The native `operation`'s JSON answer for these typed arguments (by API name)."""
        try:
            answer: Answer = await OPERATIONS[operation](
                self.ctx, endpoint_named(operation).args(**values))
        except InvalidArgument as exc:
            raise InvalidArgument(self._renamed(str(exc))) from None
        body: dict[str, Any] = answer.body
        return body

    def _renamed(self, message: str) -> str:
        # A native message starts with the parameter at fault ("from..to: ...", "tags: ...").
        name, sep, rest = message.partition(":")
        if sep and name in self._renames:
            return f"{self._renames[name]}:{rest}"
        return message


def closed(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    """The JSON Schema of an object of exactly these properties (all required unless said):
    what the documents' answers are written as, and the tests validate real answers against."""
    return {"type": "object", "required": list(properties) if required is None else required,
            "properties": properties, "additionalProperties": False}


def native_filters(filters: Filters) -> dict[str, Any]:
    """`filters` as the native operations' typed arguments."""
    values = {_PARAM_OF_FIELD[f.name]: getattr(filters, f.name) for f in fields(Filters)}
    return {name: value for name, value in values.items() if value not in (None, ())}


def entity_of(args: Args, type_name: str = "entity_type",
              id_name: str = "entity_id") -> Entity | None:
    """The entity `entity_type` (and `entity_id`) name, if any."""
    entity_type, entity_id = args[type_name], args[id_name]
    if entity_type is None:
        if entity_id is not None:
            raise InvalidArgument(f"{id_name} needs {type_name} (user, session, agent, service, "
                                  "environment, or a tag key such as customer)")
        return None
    return Entity(entity_type, entity_id)


def day_range(first: date, last: date, first_name: str, last_name: str) -> tuple[datetime,
                                                                                  datetime]:
    """The UTC instants of the whole days `first` to `last`, both included."""
    if first > last:
        raise InvalidArgument(f"{first_name}: {first.isoformat()} is after {last_name} "
                              f"({last.isoformat()})")
    start = datetime(first.year, first.month, first.day, tzinfo=timezone.utc)
    end = datetime(last.year, last.month, last.day, tzinfo=timezone.utc) + timedelta(days=1)
    return start, end
