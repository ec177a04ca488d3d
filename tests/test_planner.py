"""The planner, without a database: for random questions of calls or runs (ranges, zones with
:30/:45 offsets and daylight saving time, granularities, filters, group-bys, histograms or
not), every instant of [from, to) is read exactly once, by a relation of the question's fact
carrying every column the question needs, and every piece lies within one of the question's
buckets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from spantally.store import (
    AGGREGATES,
    DIMENSIONS,
    RUN_DIMENSIONS,
    Filters,
    Granularity,
    Question,
    dimension_of,
    run_dimension_of,
)
from spantally.store.buckets import segments
from spantally.store.catalog import CALLS, RAW, RUNS, Grain
from spantally.store.planner import plan, relation_for

UTC = timezone.utc
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu",
         "America/St_Johns", "Australia/Adelaide", "Pacific/Chatham", "Australia/Lord_Howe"]
BY_NAME = {a.name: a for a in AGGREGATES}
# Filters, each with a value, and the dimensions a question can group by.
FILTERS = {"agent_id": "a", "model": "m", "provider": "p", "service": "s", "environment": "e",
           "user_id": "u", "session_id": "x", "status": "ok", "tags": (("k", "v"),)}
GROUPINGS = {CALLS: ([*DIMENSIONS, "tags.feature"], dimension_of),
             RUNS: ([*RUN_DIMENSIONS, "tags.feature"], run_dimension_of)}

DECLARED = frozenset({"feature", "k"})  # the project's tag keys, when it declares any

moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                       timezones=st.just(UTC))


@st.composite
def questions(draw: st.DrawFn) -> Question:
    start = draw(moments)
    length = draw(st.one_of(st.timedeltas(timedelta(0), timedelta(hours=3)),
                            st.timedeltas(timedelta(0), timedelta(days=70))))
    granularity = draw(st.none() | st.sampled_from(Granularity))
    if granularity is Granularity.HOUR:  # keep the number of buckets small
        length = min(length, timedelta(days=5))
    filters = Filters(**{name: FILTERS[name] for name in draw(
        st.lists(st.sampled_from(sorted(FILTERS)), max_size=3, unique=True))})
    fact = draw(st.sampled_from([CALLS, RUNS]))
    names, dimension = GROUPINGS[fact]
    group_by = tuple(dimension(name) for name in draw(
        st.lists(st.sampled_from(names), max_size=2, unique=True)))
    return Question(start, start + length, filters, group_by,  # type: ignore[arg-type]
                    granularity, ZoneInfo(draw(st.sampled_from(ZONES))),
                    histograms=draw(st.booleans()), fact=fact,
                    tag_keys=draw(st.sampled_from([frozenset(), DECLARED])))


@settings(max_examples=400, deadline=None)
@given(questions())
def test_every_instant_is_read_once_by_a_relation_that_can_answer(question: Question) -> None:
    planned = plan(question)
    covered = question.start
    for piece in planned.pieces:
        assert piece.start == covered and piece.start < piece.end
        covered = piece.end
        if piece.relation != question.fact.raw:
            aggregate = BY_NAME[piece.relation]
            assert aggregate.fact is question.fact
            assert aggregate.carries(question.columns, question.histograms)
            # whole UTC buckets of the aggregate's grain
            assert aggregate.grain.floor(piece.start) == piece.start
            assert aggregate.grain.floor(piece.end) == piece.end
    assert covered == max(question.start, question.end)
    # Each piece lies within one bucket of the question, and is counted in it.
    if question.granularity is not None and question.start < question.end:
        buckets = segments(question.start, question.end, question.granularity, question.zone)
        for piece in planned.pieces:
            holding = [s for s in buckets if s.start <= piece.start and piece.end <= s.end]
            assert len(holding) == 1 and holding[0].bucket == piece.bucket
            assert planned.bucket_at(piece.start) == piece.bucket
    # The merged reads cover the same instants as the pieces.
    read = sum((hi - lo for r in planned.reads for lo, hi in r.ranges), timedelta())
    assert read == max(question.end - question.start, timedelta())


def _holds_whole_bucket(start: datetime, end: datetime, grain: Grain) -> bool:
    first = grain.floor(start) if grain.floor(start) == start else grain.floor(start) + grain.width
    return first + grain.width <= end


@settings(max_examples=200, deadline=None)
@given(questions())
def test_whole_buckets_come_from_the_coarsest_aggregate_that_can_answer(
        question: Question) -> None:
    planned = plan(question)
    for grain in Grain:
        if relation_for(question, grain) is None:
            continue
        # No finer read holds a whole UTC bucket that this grain's aggregate could answer.
        for piece in planned.pieces:
            finer = (piece.relation == question.fact.raw
                     or BY_NAME[piece.relation].grain.width < grain.width)
            if finer:
                assert not _holds_whole_bucket(piece.start, piece.end, grain), piece


def test_relations_chosen_for_typical_questions() -> None:
    start, end = datetime(2026, 3, 1, 5, 32, 10, tzinfo=UTC), datetime(2026, 3, 9, 7, tzinfo=UTC)

    def relations(**kwargs: object) -> list[str]:
        return [r.relation for r in plan(Question(start, end, **kwargs)).reads]  # type: ignore[arg-type]

    # Days, then hours, then 5 minutes: raw rows only for the 2 min 50 s before 5:35.
    assert relations() == ["llm_calls_total_5m", "llm_calls_total_1h", "llm_calls_total_1d", RAW]
    assert plan(Question(start, end)).raw_span == timedelta(minutes=2, seconds=50)
    # The aggregate with the fewest keys that carries the question's: the fewest rows.
    assert relations(filters=Filters(model="gpt-4o")) == [
        "llm_calls_model_5m", "llm_calls_request_model_1h", "llm_calls_request_model_1d", RAW]
    assert relations(group_by=(DIMENSIONS["provider"], DIMENSIONS["model"])) == [
        "llm_calls_model_5m", "llm_calls_request_model_1h", "llm_calls_request_model_1d", RAW]
    # No 5-minute level carries an agent: hours and raw edges.
    assert relations(filters=Filters(model="gpt-4o", agent_id="a")) == [
        "llm_calls_1h", "llm_calls_1d", RAW]
    assert plan(Question(start, end, filters=Filters(agent_id="a"))).raw_span == timedelta(
        minutes=27, seconds=50)
    assert relations(group_by=(DIMENSIONS["request_model"],)) == [
        "llm_calls_request_model_1h", "llm_calls_request_model_1d", RAW]
    assert relations(group_by=(DIMENSIONS["user"],), histograms=False) == [
        "llm_calls_user_1d", RAW]
    assert relations(group_by=(DIMENSIONS["user"],)) == [RAW]  # no user histograms
    assert relations(filters=Filters(tags=(("k", "v"),))) == [RAW]
    # Kolkata's days start at :30 UTC: no whole UTC day inside one; hours, 5 minutes, raw edges.
    kolkata = plan(Question(start, end, granularity=Granularity.DAY, zone=ZoneInfo("Asia/Kolkata")))
    assert [r.relation for r in kolkata.reads] == ["llm_calls_total_5m", "llm_calls_total_1h", RAW]
    assert kolkata.raw_span == timedelta(minutes=2, seconds=50)
    assert plan(Question(end, end)).pieces == ()


def test_relations_chosen_for_typical_run_questions() -> None:
    start, end = datetime(2026, 3, 1, 5, 30, tzinfo=UTC), datetime(2026, 3, 9, 7, tzinfo=UTC)

    def relations(**kwargs: object) -> list[str]:
        return [r.relation for r in plan(Question(start, end, fact=RUNS, **kwargs)).reads]  # type: ignore[arg-type]

    assert relations() == ["agent_runs_1h", "agent_runs_1d", "agent_runs"]
    assert relations(group_by=(RUN_DIMENSIONS["agent"],), filters=Filters(status="ok")) == [
        "agent_runs_1h", "agent_runs_1d", "agent_runs"]
    assert relations(group_by=(RUN_DIMENSIONS["kind"],), granularity=Granularity.DAY) == [
        "agent_runs_1h", "agent_runs_1d", "agent_runs"]
    # A run per model it used: only questions by model (grouped or filtered) may read those.
    per_model = ["agent_runs_model_1h", "agent_runs_model_1d", "agent_runs"]
    assert relations(group_by=(RUN_DIMENSIONS["model"],)) == per_model
    assert relations(filters=Filters(model="gpt-4o")) == per_model
    assert relations(filters=Filters(model="gpt-4o", agent_id="a")) == per_model
    assert relations(filters=Filters(model="gpt-4o", status="ok")) == ["agent_runs"]
    # The provider a run used, its user and its tags are in no run aggregate.
    assert relations(filters=Filters(provider="openai")) == ["agent_runs"]
    assert relations(filters=Filters(user_id="u")) == ["agent_runs"]
    assert relations(group_by=(run_dimension_of("tags.team"),)) == ["agent_runs"]


def test_a_declared_tag_alone_is_read_from_the_tag_aggregates() -> None:
    start = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
    end = start + timedelta(days=20)

    def relations(filters: Filters, *group_by: str,
                  tag_keys: frozenset[str] = DECLARED) -> set[str]:
        question = Question(start, end, filters, tuple(dimension_of(g) for g in group_by),
                            tag_keys=tag_keys)  # type: ignore[misc]
        return {p.relation for p in plan(question).pieces}

    tagged = {"llm_calls_tag_1d", "llm_calls_tag_1h", RAW}
    assert relations(Filters(), "tags.feature") == tagged
    assert relations(Filters(tags=(("k", "v"),))) == tagged
    assert relations(Filters(tags=(("feature", "chat"),)), "tags.feature") == tagged
    # Not declared, another tag beside it, another filter or dimension beside it: raw rows.
    assert relations(Filters(), "tags.team") == {RAW}
    assert relations(Filters(), "tags.feature", tag_keys=frozenset()) == {RAW}
    assert relations(Filters(tags=(("k", "v"),)), "tags.feature") == {RAW}
    assert relations(Filters(model="m"), "tags.feature") == {RAW}
    assert relations(Filters(tags=(("k", "v"),)), "model") == {RAW}
    # Without a tag, the tag aggregates answer nothing.
    assert not relations(Filters(), "model") & tagged - {RAW}
