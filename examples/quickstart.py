"""Send a handful of LLM calls through the SpanTally SDK and print /api/analytics/llm.

    spantally up                      # in one terminal (prints the API key)
    SPANTALLY_API_KEY=st_... python examples/quickstart.py

No LLM is called: the calls are described with `spantally.llm_call`, as an instrumented
client would. Options: --endpoint (OTLP, default http://127.0.0.1:4317), --protocol grpc|http,
--api (default http://127.0.0.1:3400).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import urllib.request

import spantally

CALLS = [
    # provider, model, agent, input tokens, cached input tokens, output tokens
    ("openai", "gpt-4o", "planner", 1200, 0, 300),
    ("openai", "gpt-4o", "planner", 2400, 1024, 410),
    ("openai", "gpt-4o-mini", "researcher", 800, 0, 120),
    ("anthropic", "claude-sonnet-4-20250514", "writer", 3000, 2048, 900),
    ("anthropic", "claude-sonnet-4-20250514", "writer", 1500, 0, 650),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:4317")
    parser.add_argument("--protocol", default="grpc", choices=["grpc", "http"])
    parser.add_argument("--api", default="http://127.0.0.1:3400")
    parser.add_argument("--api-key", default=os.environ.get("SPANTALLY_API_KEY"))
    args = parser.parse_args()
    if not args.api_key:
        parser.error("pass --api-key or set SPANTALLY_API_KEY (spantally up prints it)")

    spantally.init(args.endpoint, api_key=args.api_key, service_name="quickstart",
                   protocol=args.protocol)
    for provider, model, agent, prompt, cached, completion in CALLS:
        with spantally.llm_call(provider, model, agent_id=agent, session_id="demo-session") as call:
            time.sleep(random.uniform(0.01, 0.05))  # stands in for the model's latency
            call.set_usage(input_tokens=prompt, output_tokens=completion,
                           cache_read_tokens=cached)
    try:
        with spantally.llm_call("openai", "gpt-4o", agent_id="planner"):
            raise TimeoutError("the model did not answer in time")
    except TimeoutError:
        pass  # recorded on the span as an error, then re-raised to the caller as usual
    spantally.force_flush()

    request = urllib.request.Request(
        f"{args.api}/api/analytics/llm", headers={"Authorization": f"Bearer {args.api_key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        print(json.dumps(json.load(response), indent=2))


if __name__ == "__main__":
    main()
