"""Shared by the benchmarks: a private cluster, a `spantally up` process, synthetic calls."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from spantally.store import LlmCall

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-20250514"),
          ("anthropic", "claude-3-5-haiku-latest"), ("gcp.gemini", "gemini-2.5-flash")]
AGENTS = ["planner", "researcher", "writer", "critic", None]
SERVICES = ["api", "worker", "batch"]
ENVIRONMENTS = ["production", "production", "production", "staging"]
ERROR_TYPES = ["RateLimitError", "APITimeoutError", "InternalServerError"]
FEATURES = ["chat", "search", "summarize", "extract"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class UpProcess:
    proc: subprocess.Popen[str]
    grpc: str
    http: str
    api: str
    key: str


@contextmanager
def spantally_up(database_url: str, *extra: str, python: str = sys.executable,
                 api_key: str | None = None) -> Iterator[UpProcess]:
    """`spantally up` on `database_url`, from the SpanTally installed for `python`; `api_key`:
    the default project's, where an earlier start created it (it is printed only then)."""
    ports = [free_port() for _ in range(3)]
    # Benchmarks measure speed, not the rate limits: off (versions without them ignore these).
    unlimited = {**os.environ, "SPANTALLY_API_REQUESTS_PER_SECOND": "0",
                 "SPANTALLY_FAILED_AUTH_PER_MINUTE": "0"}
    proc = subprocess.Popen(
        [python, "-m", "spantally.server.cli", "--log-level", "WARNING", "up",
         "--database-url", database_url, "--grpc-port", str(ports[0]),
         "--http-port", str(ports[1]), "--api-port", str(ports[2]), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=unlimited,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "Send spans with" in line:
            break
    output = "".join(lines)
    found = re.search(r"API key\s+(st_\S+)", output)
    key = found.group(1) if found else api_key
    if "Send spans with" not in output or key is None:
        proc.kill()
        raise RuntimeError(f"spantally up did not start:\n{output}")
    try:
        yield UpProcess(proc, f"127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}/v1/traces",
                        f"http://127.0.0.1:{ports[2]}", key)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def fresh_database(admin_url: str, name: str) -> str:
    """The URL of database `name`, created empty (dropped first) in the cluster of `admin_url`."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def api_get(up: UpProcess, path: str) -> dict:
    request = urllib.request.Request(up.api + path, headers={"Authorization": f"Bearer {up.key}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def synthetic_calls(n: int, start: datetime, span: timedelta, project_id: int = 1,
                    seed: int = 1, in_time_order: bool = False) -> Iterator[LlmCall]:
    """Calls spread over [start, start + span): at random, or in time order (as live traffic
    arrives, with a minute of jitter)."""
    rng = random.Random(seed)
    seconds = int(span.total_seconds())
    for i in range(n):
        provider, model = rng.choice(MODELS)
        cost = rng.randrange(10, 10**7) if rng.random() > 0.02 else None
        if in_time_order:
            offset = min(seconds - 1, max(0, i * seconds // n + rng.randrange(-60, 60)))
        else:
            offset = rng.randrange(seconds)
        failed = rng.random() < 0.05
        streaming = rng.random() < 0.3
        yield LlmCall(
            time=start + timedelta(seconds=offset, microseconds=rng.randrange(10**6)),
            project_id=project_id, trace_id=os.urandom(16), span_id=os.urandom(8),
            parent_span_id=None, service_name=rng.choice(SERVICES),
            environment=rng.choice(ENVIRONMENTS), agent_id=rng.choice(AGENTS), agent_name=None,
            # In time order a session is ~8 consecutive calls, as a conversation's turns are.
            session_id=f"s-{i // 8}" if in_time_order else f"s-{rng.randrange(10**5)}",
            user_id=f"u-{rng.randrange(10**4)}", provider=provider, request_model=model,
            response_model=model, model=model, operation="chat", streaming=streaming,
            input_tokens=rng.randrange(50, 20_000), output_tokens=rng.randrange(10, 2_000),
            cache_read_tokens=0, cache_write_tokens=0, reasoning_tokens=0,
            cost_nano_usd=cost, cost_source="catalog" if cost is not None else None,
            latency_us=rng.randrange(50_000, 30_000_000),
            ttft_us=rng.randrange(50_000, 3_000_000) if streaming else None,
            status="error" if failed else "ok",
            error_type=rng.choice(ERROR_TYPES) if failed else None,
            tags={"feature": rng.choice(FEATURES)},
        )


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def stopwatch() -> float:
    return time.perf_counter()
