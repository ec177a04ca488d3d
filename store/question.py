"""An analytics question, as the planner takes it: of which fact (LLM calls or agent runs), a
range, a time zone and granularity, filters, what to group by, and whether percentiles
(histograms) are wanted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from typing import Any

from psycopg import sql

from .buckets import Granularity
from .catalog import CALLS, TAG_COLUMNS, Fact, each_element

__all__ = ["DIMENSIONS", "ENTITY_TYPES", "Dimension", "Entity", "Filters", "Question",
           "TAG_PREFIX", "TAGS", "dimension_of"]

TAG_PREFIX = "tags."
TAGS = "tags"
"""The llm_calls column tag filters and tag dimensions read (a tag aggregate holds the keys a
project declares, as TAG_COLUMNS)."""


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    """Its API name."""
    column: str
    """Its column (of llm_calls or agent_runs); for a tag, the tag's key."""
    tag: bool = False
    many_values: bool = False
    """Whether it can have a value per call or so (users, sessions): ranked on sums first."""
    each_of: str | None = None
    """An array column whose elements are its values, a row counting once per element (a run
    per model its calls used; a run without any counts once, without a value)."""

    @property
    def reads(self) -> str:
        """The column grouping by it reads."""
        return TAGS if self.tag else self.column

    def expression(self, per_tag: bool = False) -> sql.Composable:
        """What grouping by it reads: over raw rows or an aggregate; `per_tag`: over a tag
        aggregate (catalog `Aggregate.per_tag`), whose rows are of this tag's key."""
        if self.tag and per_tag:
            return sql.Identifier("tag_value")
        if self.tag:
            return sql.SQL("c.tags ->> {}").format(sql.Literal(self.column))
        # An `each_of` dimension too: over raw rows its column is the joined element's (no
        # raw relation has a column of that name), over an aggregate the aggregate's key.
        return sql.Identifier(self.column)

    def join(self) -> sql.Composable:
        """What a query over raw rows joins to read it: each element of `each_of`."""
        if self.each_of is None:
            return sql.SQL("")
        return sql.SQL(each_element(self.each_of, self.column))


DIMENSIONS: dict[str, Dimension] = {d.name: d for d in (
    Dimension("provider", "provider"),
    Dimension("model", "model"),
    Dimension("request_model", "request_model"),
    Dimension("agent", "agent_id"),
    Dimension("service", "service_name"),
    Dimension("operation", "operation"),
    Dimension("status", "status"),
    Dimension("environment", "environment"),
    Dimension("error_type", "error_type"),
    Dimension("user", "user_id", many_values=True),
    Dimension("session", "session_id", many_values=True),
)}


def dimension_of(name: str) -> Dimension | None:
    """A dimension by its API name: one of DIMENSIONS, or `tags.<key>`."""
    if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
        return Dimension(name, name[len(TAG_PREFIX):], tag=True)
    return DIMENSIONS.get(name)


@dataclass(frozen=True, slots=True)
class Filters:
    """Equality filters, ANDed; `tags` pairs match the tag's value as text."""

    agent_id: str | None = None
    model: str | None = None
    request_model: str | None = None
    provider: str | None = None
    service: str | None = None
    environment: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    status: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    # Each filter's llm_calls column.
    _COLUMNS = {"agent_id": "agent_id", "model": "model", "request_model": "request_model",
                "provider": "provider",
                "service": "service_name", "environment": "environment", "user_id": "user_id",
                "session_id": "session_id", "status": "status"}

    def _set(self) -> Iterator[tuple[str, str, str]]:
        for name, column in self._COLUMNS.items():
            value = getattr(self, name)
            if value is not None:
                yield name, column, value

    @property
    def columns(self) -> frozenset[str]:
        """The llm_calls columns these filters read."""
        return frozenset([column for _, column, _ in self._set()] + ([TAGS] if self.tags else []))

    @property
    def indexed(self) -> bool:
        """A filter an index of llm_calls narrows to few rows over any range."""
        return self.user_id is not None or self.session_id is not None

    def sql(self, fact: Fact = CALLS, joined: frozenset[str] = frozenset(),
            tag_key: str | None = None) -> tuple[sql.Composed, dict[str, Any]]:
        """` AND column = %(f_name)s ...` and its parameters, on raw rows of `fact` (where a
        filter on a column of `fact.used` matches a row whose array holds the value, unless
        the query `joined` each element as that column) or on an aggregate (`fact` CALLS: plain
        columns); `tag_key`: on a tag aggregate, its rows of that key (the tag filters, all of
        that key, then read its value)."""
        parts: list[sql.Composable] = []
        params: dict[str, Any] = {}
        used = {column: array for column, array in fact.used if column not in joined}
        for name, column, value in self._set():
            if column in used:
                parts.append(sql.SQL(" AND {} = ANY(c.{})").format(
                    sql.Placeholder(f"f_{name}"), sql.Identifier(used[column])))
            else:
                parts.append(sql.SQL(" AND {} = {}").format(sql.Identifier(column),
                                                           sql.Placeholder(f"f_{name}")))
            params[f"f_{name}"] = value
        if tag_key is not None:
            parts.append(sql.SQL(" AND tag_key = %(tag_key)s"))
            params["tag_key"] = tag_key
        for i, (key, value) in enumerate(self.tags):
            if tag_key is not None:
                assert key == tag_key, (key, tag_key)
                parts.append(sql.SQL(" AND tag_value = {}").format(sql.Placeholder(f"tag_v{i}")))
            else:
                parts.append(sql.SQL(" AND tags ->> {} = {}").format(
                    sql.Placeholder(f"tag_k{i}"), sql.Placeholder(f"tag_v{i}")))
                params[f"tag_k{i}"] = key
            params[f"tag_v{i}"] = value
        return sql.Composed(parts), params


ENTITY_TYPES: dict[str, str] = {"user": "user_id", "session": "session_id",
                                "agent": "agent_id", "service": "service",
                                "environment": "environment"}
"""The entity types that are a dimension of their own, with the Filters field each sets; any
other entity type is a tag key (`customer`, `team`, ...)."""


@dataclass(frozen=True, slots=True)
class Entity:
    """What cost is attributed to (reference 002's `entity_type` and `entity_id`): a user, a
    session, an agent, a service, an environment, or the value of a tag (`customer=acme`)."""

    type: str
    id: str | None = None
    """None: every entity of the type."""

    @property
    def is_tag(self) -> bool:
        return self.type not in ENTITY_TYPES

    @property
    def dimension(self) -> Dimension:
        """The dimension whose values are the entities of this type."""
        if self.is_tag:
            return Dimension(TAG_PREFIX + self.type, self.type, tag=True)
        return DIMENSIONS[self.type]

    def narrow(self, filters: Filters) -> Filters:
        """`filters` and this entity's: calls of this entity alone (with an id)."""
        if self.id is None:
            return filters
        if self.is_tag:
            return replace(filters, tags=(*filters.tags, (self.type, self.id)))
        return replace(filters, **{ENTITY_TYPES[self.type]: self.id})


@dataclass(frozen=True, slots=True)
class Question:
    """Measures of the calls (or, with `fact` RUNS, the runs) in [start, end), per calendar
    bucket of `granularity` in `zone` (None: one bucket) and per value of `group_by`; `only`
    keeps those values of the first dimension; without `histograms` (cheaper) no percentile can
    be read from the answer."""

    start: datetime
    end: datetime
    filters: Filters = field(default_factory=Filters)
    group_by: tuple[Dimension, ...] = ()
    granularity: Granularity | None = None
    zone: tzinfo = timezone.utc
    histograms: bool = True
    only: tuple[str | None, ...] | None = None
    fact: Fact = CALLS
    tag_keys: frozenset[str] = frozenset()
    """The tag keys the project declares (store.declared_tag_keys): a question reading one of
    them and no other column can be answered from the tag aggregates."""

    @property
    def aggregated_tag(self) -> str | None:
        """The declared tag key the question reads, when that is the one tag key it reads."""
        if not self.tag_keys or self.fact is not CALLS:
            return None
        read = {k for k, _ in self.filters.tags} | {d.column for d in self.group_by if d.tag}
        if len(read) != 1:
            return None
        (key,) = read
        return key if key in self.tag_keys else None

    @property
    def columns(self) -> frozenset[str]:
        """Every column the question filters or groups by (of a declared tag: TAG_COLUMNS)."""
        columns = self.filters.columns | {d.reads for d in self.group_by}
        if self.aggregated_tag is not None:
            return (columns - {TAGS}) | frozenset(TAG_COLUMNS)
        return columns
