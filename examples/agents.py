"""Two agents, two users, two sessions: instrumented OpenAI and Anthropic clients under
`spantally.agent()`, `session()` and `user()`, then the per-agent figures from SpanTally.

    spantally up                                   # in one terminal (prints the API key)
    SPANTALLY_API_KEY=st_... python examples/agents.py

With OPENAI_API_KEY and ANTHROPIC_API_KEY set it calls the real APIs (a few cheap calls);
otherwise it starts the local fake API from tests/fake_llm.py and calls that. Options:
--endpoint (OTLP, default http://127.0.0.1:4317), --api (default http://127.0.0.1:3400).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import urllib.request
from pathlib import Path

import anthropic
import openai

import spantally

CONVERSATIONS = [
    ("alice", "trip-2026-11", "Plan three days in Lisbon."),
    ("bob", "taxes-2026", "Which receipts should I keep for a home office?"),
]


def fake_api() -> contextlib.AbstractContextManager[object]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fake_llm import fake_llm_server

    return fake_llm_server()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:4317")
    parser.add_argument("--api", default="http://127.0.0.1:3400")
    parser.add_argument("--api-key", default=os.environ.get("SPANTALLY_API_KEY"))
    args = parser.parse_args()
    if not args.api_key:
        parser.error("pass --api-key or set SPANTALLY_API_KEY (spantally up prints it)")

    spantally.init(args.endpoint, api_key=args.api_key, service_name="agents-example")
    spantally.instrument()
    real = bool(os.environ.get("OPENAI_API_KEY") and os.environ.get("ANTHROPIC_API_KEY"))
    with contextlib.nullcontext() if real else fake_api() as fake:
        if real:
            planner_llm, researcher_llm = openai.OpenAI(), anthropic.Anthropic()
        else:
            print(f"no OPENAI_API_KEY/ANTHROPIC_API_KEY: using the fake API at {fake.url}")
            planner_llm = openai.OpenAI(base_url=fake.openai_url, api_key="fake")
            researcher_llm = anthropic.Anthropic(base_url=fake.url, api_key="fake")

        for user, session, question in CONVERSATIONS:
            with spantally.user(user), spantally.session(session):
                with spantally.agent("planner"):
                    plan = planner_llm.chat.completions.create(
                        model="gpt-4o-mini", max_tokens=200,
                        messages=[{"role": "system", "content": "Split the task in two steps."},
                                  {"role": "user", "content": question}])
                outline = plan.choices[0].message.content or ""
                with spantally.agent("researcher"):
                    for step in ("first", "second"):
                        with researcher_llm.messages.stream(
                            model="claude-haiku-4-5", max_tokens=300,
                            messages=[{"role": "user",
                                       "content": f"{question}\nPlan: {outline}\nDo the {step} step."}],
                        ) as stream:
                            for _ in stream.text_stream:
                                pass  # a real agent would show the text as it arrives
    spantally.force_flush()

    request = urllib.request.Request(f"{args.api}/api/analytics/llm?granularity=hour",
                                     headers={"Authorization": f"Bearer {args.api_key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    print(json.dumps(body["summary"], indent=2))
    for row in body["byModel"]:
        print(f"{row['model']:<28} {row['calls']:>4} calls  ${row['costUsd']:.6f}")


if __name__ == "__main__":
    main()
