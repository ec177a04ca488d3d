"""OTLP/JSON request parsing (collector/otlp_http.py): this tree against the same module at a
git revision, on one realistic body, alternating in one process.

    python bench/otlp_json.py [--rev HEAD] [--spans 500] [--rounds 3]

The body: `--spans` LLM spans of ~28 attributes (~2.4 KB each in JSON), as OTLP/JSON with hex
ids. Prints the median ms of 20 parses per round and the ratio this tree / the revision.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

import spantally.collector.otlp_http as current  # noqa: E402
from tests.harness import CallSpec, make_spans, otlp_json  # noqa: E402


def _at_revision(rev: str) -> ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:collector/otlp_http.py"], cwd=_ROOT,
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "otlp_http_at_revision.py"
    path.write_text(source)
    name = "spantally.collector.otlp_http_at_revision"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "spantally.collector"  # its relative imports: this tree's package
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--spans", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    specs = [CallSpec(datetime(2026, 7, 1, 10) + timedelta(seconds=i), 100,
                      extra={f"app.attribute_{k}": "v" * 30 for k in range(22)})
             for i in range(args.spans)]
    body = otlp_json(make_spans(specs))
    print(f"body: {len(body):,} bytes, {len(body) // args.spans:,} a span")
    sides = {args.rev: _at_revision(args.rev), "this tree": current}
    medians: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, module in sides.items():
            times = []
            for _ in range(20):
                started = time.perf_counter()
                module._parse_json(body, ExportTraceServiceRequest)
                times.append((time.perf_counter() - started) * 1000)
            medians[name].append(statistics.median(times))
    for name, values in medians.items():
        print(f"{name:<12}" + "  ".join(f"{v:8.2f} ms" for v in values))
    ratio = statistics.median(medians["this tree"]) / statistics.median(medians[args.rev])
    print(f"ratio this tree / {args.rev}: {ratio:.3f}")


if __name__ == "__main__":
    main()
