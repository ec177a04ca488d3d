"""Record the Vercel AI SDK's spans (Node.js) against the fake provider API, for the replay in
tests/test_mapping.py: `python -m tests.record_vercel_ai` (needs node and npm; installs
tests/vercel_ai's pinned packages). Writes tests/data/vercel_ai.json: the OTLP/JSON requests
the SDK's exporter sent, and the versions it ran."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fake_llm import fake_llm_server

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "vercel_ai"
RECORDING = HERE / "data" / "vercel_ai.json"
USAGE = dict(input_tokens=1200, output_tokens=300, cached_tokens=1024, reasoning_tokens=120)


def _sink() -> tuple[ThreadingHTTPServer, list[Any]]:
    bodies: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if self.headers.get("transfer-encoding") == "chunked":
                raw = b""
                while size := int(self.rfile.readline().strip(), 16):
                    raw += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
            else:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            bodies.append(json.loads(raw))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, bodies


def main() -> None:
    subprocess.run(["npm", "ci", "--silent"], cwd=PACKAGE, check=True)
    sink, bodies = _sink()
    url = f"http://127.0.0.1:{sink.server_address[1]}/v1/traces"
    with fake_llm_server() as fake:
        for what, script in (("ok", USAGE), ("fail", {"status": 429})):
            fake.set(**script)
            subprocess.run(["node", "record.mjs", fake.url, url, what], cwd=PACKAGE, check=True,
                           timeout=120)
    sink.shutdown()
    versions = {name: json.loads((PACKAGE / "node_modules" / name / "package.json").read_text())[
        "version"] for name in ("ai", "@ai-sdk/openai", "@ai-sdk/anthropic")}
    RECORDING.write_text(json.dumps({"versions": versions, "usage": USAGE, "requests": bodies},
                                    indent=1) + "\n")
    spans = sum(len(ss["spans"]) for b in bodies for rs in b["resourceSpans"]
                for ss in rs["scopeSpans"])
    print(f"{spans} spans in {len(bodies)} requests -> {RECORDING}")


if __name__ == "__main__":
    main()
