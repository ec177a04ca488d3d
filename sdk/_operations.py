"""The API's query operations as typed methods, shared by the HTTP and the gRPC
client (client.py).

Written by `make generate` (server/api/generate.py) from server/api/spec.py: edit that."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["GRPC_SERVICE", "ROUTES", "TIMES", "AsyncOperations", "Operations"]

GRPC_SERVICE = "spantally.analytics.v1.AnalyticsService"

ROUTES: dict[str, tuple[str, str]] = {
    "llm": ("/api/analytics/llm", "Llm"),
    "summary": ("/api/analytics/summary", "Summary"),
    "timeseries": ("/api/analytics/timeseries", "Timeseries"),
    "breakdown": ("/api/analytics/breakdown/{dimension}", "Breakdown"),
    "compare": ("/api/analytics/compare", "Compare"),
    "sessions": ("/api/analytics/sessions", "Sessions"),
    "anomalies": ("/api/analytics/anomalies", "Anomalies"),
    "runs_summary": ("/api/analytics/runs", "RunsSummary"),
    "runs_timeseries": ("/api/analytics/runs/timeseries", "RunsTimeseries"),
    "runs_breakdown": ("/api/analytics/runs/breakdown/{dimension}", "RunsBreakdown"),
    "tags": ("/api/analytics/tags", "Tags"),
    "calls": ("/api/calls", "Calls"),
    "call": ("/api/calls/{traceId}/{spanId}", "Call"),
    "runs": ("/api/runs", "Runs"),
    "run": ("/api/runs/{traceId}/{spanId}", "Run"),
}
"""Each operation's HTTP path and gRPC method."""

TIMES = frozenset({"compareFrom", "compareTo", "from", "to"})
"""The parameters that are times: also given as datetimes or "7d", "24h"."""


class Operations:
    """One method per operation; a parameter left None takes the server's default."""

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def llm(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        granularity: str | None = None,
    ) -> dict[str, Any]:
        """Summary, per model and per time bucket: GET /api/analytics/llm."""
        return self._call("llm", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
            "currency": currency,
            "granularity": granularity,
        })

    def summary(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Calls, outcomes, tokens, cost, latency and time to first token: GET
        /api/analytics/summary."""
        return self._call("summary", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
        })

    def timeseries(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        granularity: str | None = None,
        tz: str | None = None,
        fill: str | None = None,
    ) -> dict[str, Any]:
        """The summary's measures per calendar bucket in a time zone: GET
        /api/analytics/timeseries."""
        return self._call("timeseries", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
            "currency": currency,
            "granularity": granularity,
            "tz": tz,
            "fill": fill,
        })

    def breakdown(
        self,
        dimension: str,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """The measures per value of a dimension, largest first: GET
        /api/analytics/breakdown/{dimension}."""
        return self._call("breakdown", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
            "sort": sort,
            "limit": limit,
            "dimension": dimension,
            "order": order,
        })

    def compare(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Two periods side by side, with changes and trends: GET /api/analytics/compare."""
        return self._call("compare", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
        })

    def sessions(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """Sessions with calls in the range, and their summary: GET /api/analytics/sessions."""
        return self._call("sessions", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
            "sort": sort,
            "limit": limit,
            "offset": offset,
        })

    def anomalies(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
    ) -> dict[str, Any]:
        """Cost, volume, error-rate and latency spikes per hour: GET
        /api/analytics/anomalies."""
        return self._call("anomalies", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
        })

    def runs_summary(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Agent runs: how many, how many failed, duration, steps, tokens and cost per run: GET
        /api/analytics/runs."""
        return self._call("runs_summary", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
        })

    def runs_timeseries(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        granularity: str | None = None,
        tz: str | None = None,
        fill: str | None = None,
    ) -> dict[str, Any]:
        """The runs' measures per calendar bucket in a time zone: GET
        /api/analytics/runs/timeseries."""
        return self._call("runs_timeseries", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
            "currency": currency,
            "granularity": granularity,
            "tz": tz,
            "fill": fill,
        })

    def runs_breakdown(
        self,
        dimension: str,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """The runs' measures per agent, service, user, model (runs that used it), ..., largest
        first: GET /api/analytics/runs/breakdown/{dimension}."""
        return self._call("runs_breakdown", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
            "sort": sort,
            "limit": limit,
            "dimension": dimension,
        })

    def tags(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """The tag keys of the calls in the range, the most used first: GET
        /api/analytics/tags."""
        return self._call("tags", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "limit": limit,
        })

    def calls(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """The newest calls first, a page at a time: GET /api/calls."""
        return self._call("calls", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "limit": limit,
            "offset": offset,
        })

    def call(
        self,
        trace_id: str,
        span_id: str,
    ) -> dict[str, Any]:
        """One call, everything stored about it: GET /api/calls/{traceId}/{spanId}."""
        return self._call("call", {
            "traceId": trace_id,
            "spanId": span_id,
        })

    def runs(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """The latest runs, newest first: GET /api/runs."""
        return self._call("runs", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "limit": limit,
            "offset": offset,
        })

    def run(
        self,
        trace_id: str,
        span_id: str,
    ) -> dict[str, Any]:
        """One run with its steps in start order (for a waterfall): GET
        /api/runs/{traceId}/{spanId}."""
        return self._call("run", {
            "traceId": trace_id,
            "spanId": span_id,
        })


class AsyncOperations:
    """One coroutine per operation; a parameter left None takes the server's default."""

    async def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def llm(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        granularity: str | None = None,
    ) -> dict[str, Any]:
        """Summary, per model and per time bucket: GET /api/analytics/llm."""
        return await self._call("llm", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
            "currency": currency,
            "granularity": granularity,
        })

    async def summary(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Calls, outcomes, tokens, cost, latency and time to first token: GET
        /api/analytics/summary."""
        return await self._call("summary", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
        })

    async def timeseries(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        granularity: str | None = None,
        tz: str | None = None,
        fill: str | None = None,
    ) -> dict[str, Any]:
        """The summary's measures per calendar bucket in a time zone: GET
        /api/analytics/timeseries."""
        return await self._call("timeseries", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
            "currency": currency,
            "granularity": granularity,
            "tz": tz,
            "fill": fill,
        })

    async def breakdown(
        self,
        dimension: str,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """The measures per value of a dimension, largest first: GET
        /api/analytics/breakdown/{dimension}."""
        return await self._call("breakdown", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
            "sort": sort,
            "limit": limit,
            "dimension": dimension,
            "order": order,
        })

    async def compare(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Two periods side by side, with changes and trends: GET /api/analytics/compare."""
        return await self._call("compare", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
        })

    async def sessions(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """Sessions with calls in the range, and their summary: GET /api/analytics/sessions."""
        return await self._call("sessions", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
            "sort": sort,
            "limit": limit,
            "offset": offset,
        })

    async def anomalies(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
    ) -> dict[str, Any]:
        """Cost, volume, error-rate and latency spikes per hour: GET
        /api/analytics/anomalies."""
        return await self._call("anomalies", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
        })

    async def runs_summary(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Agent runs: how many, how many failed, duration, steps, tokens and cost per run: GET
        /api/analytics/runs."""
        return await self._call("runs_summary", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
        })

    async def runs_timeseries(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        granularity: str | None = None,
        tz: str | None = None,
        fill: str | None = None,
    ) -> dict[str, Any]:
        """The runs' measures per calendar bucket in a time zone: GET
        /api/analytics/runs/timeseries."""
        return await self._call("runs_timeseries", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "explain": explain,
            "currency": currency,
            "granularity": granularity,
            "tz": tz,
            "fill": fill,
        })

    async def runs_breakdown(
        self,
        dimension: str,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        compare: str | None = None,
        compare_from: datetime | str | None = None,
        compare_to: datetime | str | None = None,
        explain: str | None = None,
        currency: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """The runs' measures per agent, service, user, model (runs that used it), ..., largest
        first: GET /api/analytics/runs/breakdown/{dimension}."""
        return await self._call("runs_breakdown", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "compare": compare,
            "compareFrom": compare_from,
            "compareTo": compare_to,
            "explain": explain,
            "currency": currency,
            "sort": sort,
            "limit": limit,
            "dimension": dimension,
        })

    async def tags(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """The tag keys of the calls in the range, the most used first: GET
        /api/analytics/tags."""
        return await self._call("tags", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "limit": limit,
        })

    async def calls(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """The newest calls first, a page at a time: GET /api/calls."""
        return await self._call("calls", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "limit": limit,
            "offset": offset,
        })

    async def call(
        self,
        trace_id: str,
        span_id: str,
    ) -> dict[str, Any]:
        """One call, everything stored about it: GET /api/calls/{traceId}/{spanId}."""
        return await self._call("call", {
            "traceId": trace_id,
            "spanId": span_id,
        })

    async def runs(
        self,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        request_model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """The latest runs, newest first: GET /api/runs."""
        return await self._call("runs", {
            "from": from_,
            "to": to,
            "agentId": agent_id,
            "model": model,
            "requestModel": request_model,
            "provider": provider,
            "service": service,
            "environment": environment,
            "userId": user_id,
            "sessionId": session_id,
            "status": status,
            "tags": tags,
            "limit": limit,
            "offset": offset,
        })

    async def run(
        self,
        trace_id: str,
        span_id: str,
    ) -> dict[str, Any]:
        """One run with its steps in start order (for a waterfall): GET
        /api/runs/{traceId}/{spanId}."""
        return await self._call("run", {
            "traceId": trace_id,
            "spanId": span_id,
        })
