"""A local stand-in for the OpenAI and Anthropic HTTP APIs, for the real `openai` and
`anthropic` clients to talk to (tests, `bench/sdk_overhead.py`, `examples/`).

It answers `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings` and
`/v1/messages` with the providers' JSON and SSE wire formats, Gemini's
`/v1beta/models/{model}:generateContent` (and `:streamGenerateContent?alt=sse`; `/v1/models/`
too), and Bedrock's
`/model/{model}/converse`. What it answers is the current
`Script`: token counts, text, an HTTP error status, a failure part-way through a stream, a
delay before the first streamed chunk. Run alone: `python tests/fake_llm.py --port 8089`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeLLMServer", "Script", "fake_llm_server"]


@dataclass(frozen=True)
class Script:
    """What the fake answers. Token counts are as each provider reports them: OpenAI's
    `prompt_tokens` include cached tokens, Anthropic's `input_tokens` do not."""

    input_tokens: int = 120
    output_tokens: int = 30
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    text: str = "Paris is the capital of France."
    response_model: str | None = None
    status: int = 200
    fail_first: int = 0
    """Answer the first N requests with 429 (retry-after-ms: 1), then as scripted."""
    stream_error_after: int | None = None
    """Send an error event after this many content chunks."""
    first_chunk_delay: float = 0.0
    chunk_delay: float = 0.0
    tool_call: str | None = None
    """OpenAI chat, not streamed: answer a request that offers this tool with a call of it
    (no arguments), unless the conversation already ends with a tool's result."""


@dataclass
class FakeLLMServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: Script = field(default_factory=Script)
    _server: ThreadingHTTPServer | None = None
    _seen: int = 0
    _total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def set(self, **changes: Any) -> None:
        """Script the next answers; unspecified fields return to their defaults."""
        self.script = replace(Script(), **changes)
        with self._lock:
            self._seen = 0

    def _next(self) -> tuple[Script, bool, int]:
        """The script, whether to answer 429, and a number for this request's response id."""
        with self._lock:
            self._seen += 1
            self._total += 1
            return self.script, self._seen <= self.script.fail_first, self._total

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # each SSE event leaves at once, as from the real APIs
    fake: FakeLLMServer
    rid = 0  # this request's number: response ids are unique, as the real APIs' are

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing -------------------------------------------------------------------------------

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def _event(self, data: Any, event: str | None = None) -> None:
        text = (f"event: {event}\n" if event else "") + "data: " + (
            data if isinstance(data, str) else json.dumps(data)) + "\n\n"
        raw = text.encode()
        self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.fake.requests.append({"path": self.path, "body": body,
                                   "headers": dict(self.headers.items())})
        script, rate_limited, self.rid = self.fake._next()
        anthropic = self.path.startswith("/v1/messages")
        status = 429 if rate_limited else script.status
        if status != 200:
            self._error(status, anthropic, retry=rate_limited)
            return
        path = self.path.split("?")[0]
        route = {"/v1/chat/completions": self._chat, "/v1/completions": self._completion,
                 "/v1/embeddings": self._embeddings, "/v1/messages": self._messages}.get(path)
        if path.startswith(("/v1beta/models/", "/v1/models/")):
            route = self._gemini
        elif path.startswith("/model/") and path.endswith("/converse"):
            route = self._converse
        if route is None:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        route(body, script)

    def _error(self, status: int, anthropic: bool, retry: bool) -> None:
        kind = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}.get(
            status, "invalid_request_error")
        headers = {"retry-after-ms": "1"} if retry else {"x-should-retry": "false"}
        if anthropic:
            body: Any = {"type": "error", "error": {"type": kind, "message": f"scripted {status}"}}
        else:
            body = {"error": {"message": f"scripted {status}", "type": kind, "code": str(status)}}
        self._send_json(status, body, headers)

    # -- OpenAI ---------------------------------------------------------------------------------

    @staticmethod
    def _openai_usage(script: Script) -> dict[str, Any]:
        return {
            "prompt_tokens": script.input_tokens,
            "completion_tokens": script.output_tokens,
            "total_tokens": script.input_tokens + script.output_tokens,
            "prompt_tokens_details": {"cached_tokens": script.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": script.reasoning_tokens,
                                          "audio_tokens": 0},
        }

    def _chat(self, body: dict[str, Any], script: Script) -> None:
        model = script.response_model or body.get("model", "unknown")
        created = int(time.time())
        if not body.get("stream") and self._calls_tool(body, script):
            self._send_json(200, {
                "id": f"chatcmpl-fake-{self.rid}", "object": "chat.completion", "created": created,
                "model": model,
                "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                             "message": {"role": "assistant", "content": None, "tool_calls": [{
                                 "id": f"call_{self.rid}", "type": "function",
                                 "function": {"name": script.tool_call, "arguments": "{}"}}]}}],
                "usage": self._openai_usage(script),
            })
            return
        if not body.get("stream"):
            self._send_json(200, {
                "id": f"chatcmpl-fake-{self.rid}", "object": "chat.completion", "created": created,
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": script.text}}],
                "usage": self._openai_usage(script),
            })
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": f"chatcmpl-fake-{self.rid}", "object": "chat.completion.chunk", "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
            if include_usage:
                out["usage"] = None
            return out

        self._openai_stream(script, chunk({"role": "assistant", "content": ""}, None),
                            lambda word: chunk({"content": word}, None), chunk({}, "stop"),
                            include_usage, created, model, "chat.completion.chunk")

    @staticmethod
    def _calls_tool(body: dict[str, Any], script: Script) -> bool:
        if script.tool_call is None:
            return False
        offered = {(t.get("function") or {}).get("name") for t in body.get("tools") or ()}
        messages = body.get("messages") or [{}]
        return script.tool_call in offered and messages[-1].get("role") != "tool"

    def _openai_stream(self, script: Script, first: dict[str, Any] | None, piece: Any,
                       last: dict[str, Any], include_usage: bool, created: int, model: str,
                       object_name: str) -> None:
        self._start_stream()
        time.sleep(script.first_chunk_delay)
        if first is not None:
            self._event(first)
        for n, word in enumerate(_words(script.text)):
            if script.stream_error_after is not None and n >= script.stream_error_after:
                self._event({"error": {"message": "scripted failure mid-stream",
                                       "type": "server_error"}})
                self._end_stream()
                return
            time.sleep(script.chunk_delay)
            self._event(piece(word))
        self._event(last)
        if include_usage:
            self._event({"id": f"chatcmpl-fake-{self.rid}", "object": object_name, "created": created,
                         "model": model, "choices": [], "usage": self._openai_usage(script)})
        self._event("[DONE]")
        self._end_stream()

    def _completion(self, body: dict[str, Any], script: Script) -> None:
        model = script.response_model or body.get("model", "unknown")
        created = int(time.time())
        usage = {k: v for k, v in self._openai_usage(script).items()}
        if not body.get("stream"):
            self._send_json(200, {
                "id": f"cmpl-fake-{self.rid}", "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": script.text, "finish_reason": "stop",
                             "logprobs": None}],
                "usage": usage,
            })
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(text: str, finish: str | None) -> dict[str, Any]:
            return {"id": f"cmpl-fake-{self.rid}", "object": "text_completion", "created": created,
                    "model": model, "choices": [{"index": 0, "text": text,
                                                 "finish_reason": finish, "logprobs": None}]}

        self._openai_stream(script, None, lambda word: chunk(word, None), chunk("", "stop"),
                            include_usage, created, model, "text_completion")

    def _embeddings(self, body: dict[str, Any], script: Script) -> None:
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        self._send_json(200, {
            "object": "list", "model": script.response_model or body.get("model", "unknown"),
            "data": [{"object": "embedding", "index": i, "embedding": [0.25, -0.5, 0.125]}
                     for i in range(count)],
            "usage": {"prompt_tokens": script.input_tokens, "total_tokens": script.input_tokens},
        })

    # -- Anthropic ------------------------------------------------------------------------------

    @staticmethod
    def _anthropic_usage(script: Script, output_tokens: int) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": script.input_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": script.cached_tokens,
            "cache_creation_input_tokens": script.cache_write_tokens,
        }
        if script.reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": script.reasoning_tokens}
        return usage

    def _messages(self, body: dict[str, Any], script: Script) -> None:
        model = script.response_model or body.get("model", "unknown")
        message = {"id": f"msg_fake_{self.rid}", "type": "message", "role": "assistant", "model": model,
                   "stop_reason": None, "stop_sequence": None}
        if not body.get("stream"):
            self._send_json(200, {**message, "stop_reason": "end_turn",
                                  "content": [{"type": "text", "text": script.text}],
                                  "usage": self._anthropic_usage(script, script.output_tokens)})
            return
        self._start_stream()
        time.sleep(script.first_chunk_delay)
        self._event({"type": "message_start", "message": {
            **message, "content": [], "usage": self._anthropic_usage(script, 1)}},
            "message_start")
        self._event({"type": "content_block_start", "index": 0,
                     "content_block": {"type": "text", "text": ""}}, "content_block_start")
        self._event({"type": "ping"}, "ping")
        for n, word in enumerate(_words(script.text)):
            if script.stream_error_after is not None and n >= script.stream_error_after:
                self._event({"type": "error", "error": {"type": "overloaded_error",
                                                        "message": "scripted failure mid-stream"}},
                            "error")
                self._end_stream()
                return
            time.sleep(script.chunk_delay)
            self._event({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "text_delta", "text": word}}, "content_block_delta")
        self._event({"type": "content_block_stop", "index": 0}, "content_block_stop")
        delta_usage: dict[str, Any] = {"output_tokens": script.output_tokens}
        if script.reasoning_tokens:
            delta_usage["output_tokens_details"] = {"thinking_tokens": script.reasoning_tokens}
        self._event({"type": "message_delta",
                     "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                     "usage": delta_usage}, "message_delta")
        self._event({"type": "message_stop"}, "message_stop")
        self._end_stream()


    # -- Gemini (generativelanguage API) and Bedrock (Converse) ------------------------------

    def _gemini(self, body: dict[str, Any], script: Script) -> None:
        model, _, method = self.path.split("?")[0].split("/models/", 1)[1].partition(":")
        usage = {"promptTokenCount": script.input_tokens,
                 "candidatesTokenCount": script.output_tokens,
                 "totalTokenCount": script.input_tokens + script.output_tokens
                 + script.reasoning_tokens}
        if script.cached_tokens:
            usage["cachedContentTokenCount"] = script.cached_tokens
        if script.reasoning_tokens:
            usage["thoughtsTokenCount"] = script.reasoning_tokens

        def answer(text: str, done: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]},
                                         "index": 0}
            if done:
                candidate["finishReason"] = "STOP"
            out = {"candidates": [candidate], "modelVersion": script.response_model or model,
                   "responseId": f"gemini-fake-{self.rid}"}
            if done:
                out["usageMetadata"] = usage
            return out

        if method != "streamGenerateContent":
            self._send_json(200, answer(script.text, True))
            return
        self._start_stream()
        words = _words(script.text)
        for n, word in enumerate(words):
            self._event(answer(word, n == len(words) - 1))
        self._end_stream()

    def _converse(self, body: dict[str, Any], script: Script) -> None:
        usage = {"inputTokens": script.input_tokens, "outputTokens": script.output_tokens,
                 "totalTokens": script.input_tokens + script.output_tokens}
        if script.cached_tokens:
            usage["cacheReadInputTokens"] = script.cached_tokens
        if script.cache_write_tokens:
            usage["cacheWriteInputTokens"] = script.cache_write_tokens
        self._send_json(200, {
            "output": {"message": {"role": "assistant", "content": [{"text": script.text}]}},
            "stopReason": "end_turn", "usage": usage, "metrics": {"latencyMs": 5}},
            {"x-amzn-requestid": f"bedrock-fake-{self.rid}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-stream are part of the tests


def start_fake_llm_server(host: str = "127.0.0.1", port: int = 0) -> FakeLLMServer:
    handler = type("Handler", (_Handler,), {})
    server = _Server((host, port), handler)
    fake = FakeLLMServer(url=f"http://{host}:{server.server_address[1]}")
    fake._server = server
    handler.fake = fake
    threading.Thread(target=server.serve_forever, name="fake-llm", daemon=True).start()
    return fake


@contextmanager
def fake_llm_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[FakeLLMServer]:
    fake = start_fake_llm_server(host, port)
    try:
        yield fake
    finally:
        fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic HTTP API")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args()
    with fake_llm_server(port=args.port) as fake:
        print(f"OpenAI base URL {fake.openai_url}, Anthropic base URL {fake.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
