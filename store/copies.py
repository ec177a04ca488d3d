"""Copies of one LLM call, sent separately, counted once.

A call is often traced twice: by an instrumentation library and by the client itself (the
`anthropic` client's own spans next to OpenLLMetry's or OpenInference's), each span in a trace of
its own and often in another export request, maybe through another collector. Two calls are
*copies* of one when

- they carry the same provider response id (within a project and provider, in any trace,
  request or collector), or
- one of them has no response id (a failed call; OpenInference's spans, which carry none), they
  come from two different known families of instrumentation (collector.mapping.FAMILIES), name
  the same provider and request model, their spans overlap in time and start at most `NEAR`
  apart, and neither call already has a copy of the other's family (so that two failures at
  the same moment stay two).

Of the copies the one with the most information is kept (`information`): usage first (input and
output over one of them: some libraries lose a stream's input tokens), then a
place in a trace of the application (a parent span other than another copy: it is a step of
a run), then agent, session and user; ties go to an instrumentation library over the client's
own spans, then to the lower span identity, so that which copy is kept does not depend on which
arrived first. The kept call takes from the other what it lacks (`merge`): context, the time
to first chunk, the error type, tags.

Each write resolves its own calls first (`collapse`), then against what is stored: every copy
of the last `REMEMBERED` is listed in `llm_call_copies` with the call it counts as. A unique
index on the response id makes two writers of one response meet: the second waits for the
first to commit and then sees its copy. Copies without a response id written at the same moment
by two transactions can both be stored (docs/conventions.md says so). When the new copy is
better, the stored call is deleted and the new one inserted; when the stored one is kept, it
takes what the new copy adds. Either way the writer moves the aggregates by the difference
(store.ddl.add_changes), recomputes the runs of both traces, and recomputes the sessions of
both copies from their stored calls (store.ddl.RECOMPUTE_SESSIONS).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from . import ddl
from .catalog import CALLS, Aggregate
from .records import LlmCall

__all__ = [
    "FAMILY_PREFERENCE",
    "NEAR",
    "REMEMBERED",
    "CopiesResolved",
    "collapse",
    "forget_copies",
    "information",
    "merge",
    "resolve_stored",
]

NEAR: Final = timedelta(milliseconds=500)
"""How far apart two copies without a common response id may start (the spans of one request
from two instrumentations start within milliseconds of each other)."""
REMEMBERED: Final = timedelta(days=1)
"""How long a copy is remembered (by span start): a copy arriving later is not matched."""

FAMILY_PREFERENCE: Final[dict[str, int]] = {"anthropic-sdk": -1}
"""Between copies of equal information, the family preferred (higher first; 0 if unlisted):
the library the user set up over the client's own spans, whose error types are the API's
(`rate_limit_error`) rather than the client's class names every other call reports."""

# Filled from the copy that is not kept when the kept one has none (None, or 0 for the time to
# first chunk's absence): context and what describes the call, never its usage or cost.
_MERGED: Final = ("agent_id", "agent_name", "session_id", "user_id", "service_name",
                  "environment", "streaming", "ttft_us", "error_type")


Identity = tuple[int, bytes, bytes, datetime]
"""A stored call's (project, trace, span, start)."""


def _ends(call: LlmCall) -> datetime:
    return call.time + timedelta(microseconds=call.latency_us)


def _identity(call: LlmCall) -> Identity:
    return call.project_id, call.trace_id, call.span_id, call.time


def _has_usage(call: LlmCall) -> bool:
    return bool(call.input_tokens or call.output_tokens)


def information(call: LlmCall, copies: Sequence[LlmCall] = ()) -> tuple[Any, ...]:
    """How much a copy tells, compared between the `copies` of one call: the highest is kept.
    A parent counts when it is not another of the copies (the library's span around the
    client's own)."""
    parent = call.parent_span_id is not None and not any(
        c.trace_id == call.trace_id and c.span_id == call.parent_span_id for c in copies)
    context = sum(v is not None for v in (call.agent_id, call.session_id, call.user_id))
    usage = bool(call.input_tokens) + bool(call.output_tokens)  # a stream's may lack the input
    return (usage, parent, context,
            FAMILY_PREFERENCE.get(call.instrumentation or "", 0),
            # Lowest identity last: the same copy wins whichever arrived first.
            bytes(255 - b for b in call.trace_id + call.span_id))


def merge(kept: LlmCall, other: LlmCall) -> LlmCall:
    """`kept` with what `other` adds: context it lacks, and tags it lacks."""
    changes = {name: getattr(other, name) for name in _MERGED
               if getattr(kept, name) is None and getattr(other, name) is not None}
    if other.tags:
        tags = {**other.tags, **(kept.tags or {})}
        if tags != kept.tags:
            changes["tags"] = tags
    if kept.response_id is None and other.response_id is not None:
        changes["response_id"] = other.response_id
    return kept._replace(**changes) if changes else kept


def _better(a: LlmCall, b: LlmCall) -> tuple[LlmCall, LlmCall]:
    """(kept, other) of two copies."""
    return (a, b) if information(a, (b,)) >= information(b, (a,)) else (b, a)


def _near(a: LlmCall, b: LlmCall) -> bool:
    """Whether two calls are copies by the rule for copies without a common response id
    (their families not yet checked against the copies already joined)."""
    return ((a.response_id is None or b.response_id is None)
            and a.instrumentation is not None and b.instrumentation is not None
            and a.instrumentation != b.instrumentation
            and a.provider == b.provider and a.request_model == b.request_model
            and abs(a.time - b.time) <= NEAR and a.time < _ends(b) and b.time < _ends(a))


@dataclass(slots=True)
class _Group:
    members: list[int]
    families: set[str | None]
    response_ids: set[str]

    def accepts(self, other: _Group) -> bool:
        return (not (self.families & other.families)
                and len(self.response_ids | other.response_ids) <= 1)


def collapse(calls: Sequence[LlmCall]) -> tuple[list[LlmCall], int]:
    """The calls of one write with copies of one call made one (merged); and how many copies
    were folded into another."""
    if not any(c.response_id is None for c in calls) and len(
            {(c.project_id, c.provider, c.response_id) for c in calls}) == len(calls):
        return list(calls), 0  # every call its own response: no copies among them
    groups = [_Group([i], {c.instrumentation}, {c.response_id} if c.response_id else set())
              for i, c in enumerate(calls)]
    group_of = list(range(len(calls)))

    def join(i: int, j: int, by_response: bool) -> None:
        gi, gj = group_of[i], group_of[j]
        if gi == gj or not (by_response or groups[gi].accepts(groups[gj])):
            return
        a, b = groups[gi], groups[gj]
        a.members += b.members
        a.families |= b.families
        a.response_ids |= b.response_ids
        for m in b.members:
            group_of[m] = gi

    by_response: dict[tuple[int, str | None, str], int] = {}
    unidentified: dict[tuple[int, str | None, str | None], list[int]] = {}
    for i, call in enumerate(calls):
        if call.response_id is not None:
            first = by_response.setdefault((call.project_id, call.provider, call.response_id), i)
            if first != i:
                join(first, i, by_response=True)
        if call.instrumentation is not None:
            unidentified.setdefault((call.project_id, call.provider, call.request_model),
                                    []).append(i)
    for members in unidentified.values():
        lacking = [i for i in members if calls[i].response_id is None]
        if len(members) < 2 or not lacking:
            continue
        members.sort(key=lambda i: calls[i].time)
        times = [calls[i].time for i in members]
        pairs = []
        for i in lacking:  # each copy without a response id against those near it in time
            low = bisect.bisect_left(times, calls[i].time - NEAR)
            high = bisect.bisect_right(times, calls[i].time + NEAR)
            pairs += [(abs(calls[i].time - calls[j].time), min(i, j), max(i, j))
                      for j in members[low:high] if j != i and _near(calls[i], calls[j])]
        for _, i, j in sorted(set(pairs)):
            join(i, j, by_response=False)
    out: list[LlmCall] = []
    folded = 0
    for index, group in enumerate(groups):
        if group_of[index] != index:
            continue
        if len(group.members) == 1:  # almost every call
            out.append(calls[index])
            continue
        members = [calls[i] for i in group.members]
        ranked = sorted(members, key=lambda c: information(c, members), reverse=True)
        kept = ranked[0]
        for other in ranked[1:]:
            kept = merge(kept, other)
        folded += len(ranked) - 1
        out.append(kept)
    return out, folded


# -- against what is stored ------------------------------------------------------------------

_COPY_COLUMNS: Final = ("project_id", "provider", "request_model", "family", "response_id",
                        "starts", "ends", "call_time", "call_trace_id", "call_span_id")

_BATCH: Final = sql.SQL("""(
    SELECT project_id, coalesce(provider, '') AS provider,
           coalesce(request_model, '') AS request_model, coalesce(instrumentation, '') AS family,
           response_id, time AS starts, time + latency_us * interval '1 microsecond' AS ends,
           time AS call_time, trace_id AS call_trace_id, span_id AS call_span_id
    FROM pg_temp.llm_calls_staging
) b""")
"""The write's calls (staged for the ingest function) as copies, each counted as itself."""

_REMEMBER = sql.SQL("""
WITH listed AS (
    INSERT INTO llm_call_copies AS c ({columns})
    SELECT {columns} FROM {batch}
    -- (A retried request lists a copy without a response id again: a second row for the same
    -- call, which changes no match; looking for it first would cost every write a probe per
    -- copy.)
    -- In key order: two writers of the same responses wait for each other, never in a cycle.
    ORDER BY project_id, provider, response_id
    ON CONFLICT (project_id, provider, response_id) WHERE response_id IS NOT NULL DO NOTHING
    RETURNING c.call_trace_id, c.call_span_id, c.call_time
)
SELECT s.span_id FROM pg_temp.llm_calls_staging s
WHERE s.response_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM listed l
    WHERE (l.call_trace_id, l.call_span_id, l.call_time) = (s.trace_id, s.span_id, s.time))
""").format(columns=sql.SQL(", ").join(map(sql.Identifier, _COPY_COLUMNS)), batch=_BATCH)
"""Lists each copy of the write as counted as itself; a response id listed already is not.
Returns the span ids of the copies with a response id it did not list (almost always none, so
the write's own calls never travel back)."""

_HELD = sql.SQL("""
SELECT b.call_trace_id, b.call_span_id, b.call_time,
       h.call_time, h.call_trace_id, h.call_span_id, 0::double precision AS apart
FROM {batch}
CROSS JOIN LATERAL (
    SELECT h.call_time, h.call_trace_id, h.call_span_id FROM llm_call_copies h
    WHERE h.project_id = b.project_id AND h.provider = b.provider
      AND h.response_id = b.response_id AND h.response_id IS NOT NULL
      AND (h.call_trace_id, h.call_span_id, h.call_time)
          IS DISTINCT FROM (b.call_trace_id, b.call_span_id, b.call_time)
    LIMIT 1  -- (the id is unique; and a LATERAL with a LIMIT is never flattened into a join)
) h
WHERE b.response_id IS NOT NULL AND b.call_span_id = ANY(%(span_ids)s::bytea[])
""").format(batch=_BATCH)
"""For each copy %(span_ids)s whose response id was listed already: the stored call it is
counted as (an index probe per copy: LATERAL, never a join that would scan)."""

_NEAR = sql.SQL("""
SELECT b.call_trace_id, b.call_span_id, b.call_time,
       m.call_time, m.call_trace_id, m.call_span_id, m.apart
FROM {batch}
CROSS JOIN LATERAL (
    SELECT c.call_time, c.call_trace_id, c.call_span_id,
           abs(extract(epoch FROM c.starts - b.starts))::double precision AS apart
    FROM llm_call_copies c
    WHERE c.project_id = b.project_id AND c.request_model = b.request_model
      AND c.provider = b.provider {unidentified}
      AND c.starts BETWEEN b.starts - %(near)s AND b.starts + %(near)s
      AND c.starts < b.ends AND b.starts < c.ends
      AND c.family <> '' AND c.family <> b.family
      AND (c.call_trace_id, c.call_span_id) <> (b.call_trace_id, b.call_span_id)
      AND NOT EXISTS (  -- that call has a copy of this family already: another call
          SELECT 1 FROM llm_call_copies o
          WHERE o.project_id = c.project_id AND o.call_trace_id = c.call_trace_id
            AND o.call_span_id = c.call_span_id AND o.family = b.family)
    ORDER BY apart
    LIMIT 1
) m
WHERE b.family <> '' AND {which}
""")
"""For each copy `b`: the stored copy nearest in time, of another family, whose call has no copy
of b's family yet; {unidentified}: only those without a response id."""
_NEAR_UNIDENTIFIED = _NEAR.format(batch=_BATCH, unidentified=sql.SQL("AND c.response_id IS NULL"),
                                  which=sql.SQL("b.response_id IS NOT NULL"))
_NEAR_ANY = _NEAR.format(batch=_BATCH, unidentified=sql.SQL(""),
                         which=sql.SQL("b.response_id IS NULL"))

_ANY_UNIDENTIFIED = sql.SQL("""
SELECT EXISTS (
    SELECT 1 FROM llm_call_copies
    WHERE response_id IS NULL AND project_id = ANY(%(project_ids)s::bigint[])
      AND starts BETWEEN %(start)s AND %(end)s)
""")
"""Whether any copy without a response id lies near the write's calls: most writes have none
about, and skip looking for one per call (a probe of a small partial index)."""

_LOCK_STORED = sql.SQL("""
SELECT {columns} FROM llm_calls
WHERE project_id = %(project_id)s AND (trace_id, span_id, time) IN (
    SELECT * FROM unnest(%(trace_ids)s::bytea[], %(span_ids)s::bytea[], %(times)s::timestamptz[]))
ORDER BY trace_id, span_id
FOR UPDATE
""").format(columns=sql.SQL(", ").join(map(sql.Identifier, LlmCall._fields)))

_REPOINT = sql.SQL("""
UPDATE llm_call_copies c SET call_time = r.to_time, call_trace_id = r.to_trace_id,
                             call_span_id = r.to_span_id
FROM unnest(%(project_ids)s::bigint[], %(trace_ids)s::bytea[], %(span_ids)s::bytea[],
            %(to_times)s::timestamptz[], %(to_trace_ids)s::bytea[], %(to_span_ids)s::bytea[])
     AS r(project_id, trace_id, span_id, to_time, to_trace_id, to_span_id)
WHERE c.project_id = r.project_id AND c.call_trace_id = r.trace_id
  AND c.call_span_id = r.span_id
""")
"""Copies counted as one call (its identity) are counted as another."""

_DELETE_STORED = sql.SQL("""
DELETE FROM llm_calls c
USING unnest(%(project_ids)s::bigint[], %(trace_ids)s::bytea[], %(span_ids)s::bytea[],
             %(times)s::timestamptz[]) AS d(project_id, trace_id, span_id, time)
WHERE c.project_id = d.project_id AND c.trace_id = d.trace_id AND c.span_id = d.span_id
  AND c.time = d.time
""")

_UPDATABLE: Final = (*_MERGED, "tags", "response_id")


def _completing(table: sql.Composable) -> sql.Composed:
    """An UPDATE of one call of `table` to its merged fields (_UPDATABLE)."""
    return sql.SQL("""
UPDATE {table} SET {sets}
WHERE project_id = %(project_id)s AND trace_id = %(trace_id)s AND span_id = %(span_id)s
  AND time = %(time)s
""").format(table=table, sets=sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in _UPDATABLE))


_UPDATE_STORED = _completing(sql.Identifier("llm_calls"))
_UPDATE_STAGED = _completing(sql.SQL("pg_temp.llm_calls_staging"))

_UNSTAGE = sql.SQL("""
DELETE FROM pg_temp.llm_calls_staging s
USING unnest(%(project_ids)s::bigint[], %(trace_ids)s::bytea[], %(span_ids)s::bytea[],
             %(times)s::timestamptz[]) AS d(project_id, trace_id, span_id, time)
WHERE s.project_id = d.project_id AND s.trace_id = d.trace_id AND s.span_id = d.span_id
  AND s.time = d.time
""")

_FORGET = sql.SQL("DELETE FROM llm_call_copies WHERE starts < now() - %(remembered)s")


@dataclass(slots=True)
class CopiesResolved:
    """What resolving a write's calls against the stored ones did."""

    calls: list[LlmCall]
    """The calls to insert (some merged with a stored copy they replace)."""
    folded: int = 0
    """Copies not stored because another copy of their call is (in the write or stored)."""
    changes: list[tuple[LlmCall, LlmCall | None]] = field(default_factory=list)
    """Stored calls changed, as (before, after), after None for one deleted: for the
    aggregates and the runs of their traces."""


async def resolve_stored(cur: psycopg.AsyncCursor[Any], calls: Sequence[LlmCall],
                         aggregates: tuple[Aggregate, ...] = ()) -> CopiesResolved:
    """In the write's transaction, with its calls staged (`calls`, collapsed already, in
    pg_temp.llm_calls_staging) and before the ingest function inserts them: list them as
    copies, find the stored calls they are copies of, keep the better copy of each, and apply
    that to llm_calls, llm_call_copies, the staged calls and the aggregates of `aggregates`
    (ddl.aggregates_kept) for the stored calls it changed."""
    resolved = CopiesResolved(list(calls))
    if not calls:
        return resolved
    await cur.execute(_REMEMBER)
    # Copies whose response id another copy listed first (a stored call, or a retry's own).
    held = [span_id for span_id, in await cur.fetchall()]
    found: list[tuple[Any, ...]] = []
    if held:
        await cur.execute(_HELD, {"span_ids": held})
        found += await cur.fetchall()
    known = [c for c in calls if c.instrumentation is not None]
    if any(c.response_id is None for c in known):
        await cur.execute(_NEAR_ANY, {"near": NEAR})
        found += await cur.fetchall()
    identified = [c for c in known if c.response_id is not None]
    if identified:
        await cur.execute(_ANY_UNIDENTIFIED, {
            "project_ids": sorted({c.project_id for c in identified}),
            "start": min(c.time for c in identified) - NEAR,
            "end": max(c.time for c in identified) + NEAR})
        row = await cur.fetchone()
        if row is not None and row[0]:
            await cur.execute(_NEAR_UNIDENTIFIED, {"near": NEAR})
            found += await cur.fetchall()
    if not found:
        return resolved
    index = {(c.trace_id, c.span_id, c.time): n for n, c in enumerate(calls)}
    matches: dict[int, tuple[float, Identity]] = {}
    for trace_id, span_id, time, to_time, to_trace, to_span, apart in found:
        n = index[(trace_id, span_id, time)]
        best = matches.get(n)
        if best is None or apart < best[0]:
            matches[n] = (apart, (calls[n].project_id, to_trace, to_span, to_time))
    stored = await _lock_stored(cur, {m for _, m in matches.values()})

    incoming: list[LlmCall | None] = list(calls)
    now: dict[Identity, LlmCall | None] = dict(stored)  # each stored call as this write leaves it
    replaced_by: dict[Identity, int] = {}  # a stored call -> the call of this write kept instead
    redirect: dict[Identity, Identity] = {}  # copies counted as one call -> as another
    for n, (_, key) in sorted(matches.items()):
        mine = incoming[n]
        if mine is None or key not in stored:
            continue  # already folded; or the stored call is gone (a retention pass)
        holder = replaced_by.get(key)
        held = incoming[holder] if holder is not None else now[key]
        assert held is not None
        kept, other = _better(held, mine)
        kept = merge(kept, other)
        resolved.folded += 1
        if _identity(kept) == _identity(mine):  # the new copy replaces what was kept
            incoming[n] = kept
            if holder is not None:
                incoming[holder] = None
            else:
                now[key] = None
            redirect[_identity(held)] = _identity(mine)
            replaced_by.update({k: n for k, v in replaced_by.items() if v == holder})
            replaced_by[key] = n
        else:  # what was kept stays, with what the new copy adds
            incoming[n] = None
            redirect[_identity(mine)] = _identity(held)
            if holder is not None:
                incoming[holder] = kept
            else:
                now[key] = kept
    await _apply(cur, stored, now, redirect, resolved, aggregates)
    await _restage(cur, calls, incoming)
    resolved.calls = [c for c in incoming if c is not None]
    return resolved


async def _restage(cur: psycopg.AsyncCursor[Any], staged: Sequence[LlmCall],
                   incoming: Sequence[LlmCall | None]) -> None:
    """The staged calls as decided: those a stored copy stands for are not inserted, those
    completed from a stored copy are inserted completed."""
    dropped = [_identity(c) for c, now in zip(staged, incoming, strict=True) if now is None]
    if dropped:
        await cur.execute(_UNSTAGE, _identities(dropped))
    for before, now in zip(staged, incoming, strict=True):
        if now is not None and now != before:
            await cur.execute(_UPDATE_STAGED, _updated(_identity(before), now))


async def _lock_stored(cur: psycopg.AsyncCursor[Any],
                       wanted: set[Identity]) -> dict[Identity, LlmCall]:
    """The stored calls `wanted`, locked for this write: another write of a copy of one of
    them waits until this one commits."""
    stored: dict[Identity, LlmCall] = {}
    async with cur.connection.cursor(row_factory=dict_row) as rows:
        for project_id in sorted({w[0] for w in wanted}):
            mine = sorted((w for w in wanted if w[0] == project_id), key=lambda w: w[1:3])
            await rows.execute(_LOCK_STORED, {
                "project_id": project_id, "trace_ids": [w[1] for w in mine],
                "span_ids": [w[2] for w in mine], "times": [w[3] for w in mine]})
            for row in await rows.fetchall():
                call = LlmCall(**row)
                stored[_identity(call)] = call
    return stored


async def _apply(cur: psycopg.AsyncCursor[Any], stored: dict[Identity, LlmCall],
                 now: dict[Identity, LlmCall | None], redirect: dict[Identity, Identity],
                 resolved: CopiesResolved, aggregates: tuple[Aggregate, ...]) -> None:
    deleted = [key for key, call in now.items() if call is None]
    updated = [(key, call) for key, call in now.items()
               if call is not None and call != stored[key]]
    changed = _identities([*deleted, *(key for key, _ in updated)])
    if aggregates and (deleted or updated):
        await cur.execute(ddl.create_changes(CALLS))
        await cur.execute(ddl.capture_changes(CALLS), {**changed, "is_now": False})
    if deleted:
        await cur.execute(_DELETE_STORED, _identities(deleted))
    for key, call in updated:
        await cur.execute(_UPDATE_STORED, _updated(key, call))
    resolved.changes = [(stored[key], None) for key in deleted] + [
        (stored[key], call) for key, call in updated]
    if aggregates and (deleted or updated):
        if updated:
            await cur.execute(ddl.capture_changes(CALLS), {**changed, "is_now": True})
        await cur.execute(ddl.add_changes(aggregates))
    await _recompute_sessions(cur, [stored[key] for key in deleted]
                              + [c for key, call in updated for c in (stored[key], call)])
    if redirect:
        def final(key: Identity) -> Identity:
            for _ in range(len(redirect) + 1):
                if key not in redirect:
                    break
                key = redirect[key]
            return key

        sources = sorted(redirect, key=lambda k: k[1:3])
        await cur.execute(_REPOINT, {**_identities(sources),
                                     **_identities([final(k) for k in sources], "to_")})


async def _recompute_sessions(cur: psycopg.AsyncCursor[Any], calls: Sequence[LlmCall]) -> None:
    """The sessions of `calls` (replaced or completed, as they were and are now) computed
    again from their stored calls: least and greatest values cannot be taken back."""
    touched = {(c.project_id, c.session_id): c.time for c in calls if c.session_id is not None}
    if not touched:
        return
    keys = sorted(touched)
    params = {"project_ids": [k[0] for k in keys], "session_ids": [k[1] for k in keys]}
    await cur.execute(ddl.TOUCH_SESSIONS, {**params, "times": [touched[k] for k in keys]})
    await cur.execute(ddl.RECOMPUTE_SESSIONS, params)


def _updated(key: Identity, call: LlmCall) -> dict[str, Any]:
    """Parameters of an update of the call `key` to `call`'s merged fields."""
    return {**_pointer(key), **{c: getattr(call, c) for c in _UPDATABLE},
            "tags": None if call.tags is None else Jsonb(call.tags)}


def _identities(keys: Sequence[Identity], prefix: str = "") -> dict[str, list[Any]]:
    return {f"{prefix}project_ids": [k[0] for k in keys],
            f"{prefix}trace_ids": [k[1] for k in keys], f"{prefix}span_ids": [k[2] for k in keys],
            f"{prefix}times": [k[3] for k in keys]}


def _pointer(key: Identity) -> dict[str, Any]:
    return {"project_id": key[0], "trace_id": key[1], "span_id": key[2], "time": key[3]}


async def forget_copies(conn: psycopg.AsyncConnection[Any],
                        remembered: timedelta = REMEMBERED) -> int:
    """Delete the copies older than `remembered`; returns how many."""
    cur = await conn.execute(_FORGET, {"remembered": remembered})
    return cur.rowcount
