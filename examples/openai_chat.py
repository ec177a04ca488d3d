"""The OpenAI client, instrumented with one line: a plain, a streamed and an embeddings call.

    spantally up                                   # in one terminal (prints the API key)
    SPANTALLY_API_KEY=st_... python examples/openai_chat.py

With OPENAI_API_KEY set it calls the real API; otherwise the local fake API from
tests/fake_llm.py. Options: --endpoint (OTLP, default http://127.0.0.1:4317), --protocol.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import openai

import spantally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:4317")
    parser.add_argument("--protocol", default="grpc", choices=["grpc", "http"])
    parser.add_argument("--api-key", default=os.environ.get("SPANTALLY_API_KEY"))
    args = parser.parse_args()
    if not args.api_key:
        parser.error("pass --api-key or set SPANTALLY_API_KEY (spantally up prints it)")

    spantally.init(args.endpoint, api_key=args.api_key, service_name="openai-example",
                   protocol=args.protocol)
    spantally.instrument_openai()  # the one line

    with contextlib.ExitStack() as stack:
        if os.environ.get("OPENAI_API_KEY"):
            client = openai.OpenAI()
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from tests.fake_llm import fake_llm_server

            fake = stack.enter_context(fake_llm_server())
            print(f"no OPENAI_API_KEY: using the fake API at {fake.openai_url}")
            client = openai.OpenAI(base_url=fake.openai_url, api_key="fake")

        with spantally.session("example-session"), spantally.user("example-user"):
            answer = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital of France?"}])
            print(answer.choices[0].message.content)
            for chunk in client.chat.completions.create(
                    model="gpt-4o-mini", stream=True,
                    messages=[{"role": "user", "content": "Count to five."}]):
                if chunk.choices:
                    print(chunk.choices[0].delta.content or "", end="", flush=True)
            print()
            client.embeddings.create(model="text-embedding-3-small", input=["spantally"])
    spantally.shutdown()
    print("3 calls sent; see them with: curl -H 'Authorization: Bearer $KEY' "
          "http://127.0.0.1:3400/api/analytics/llm")


if __name__ == "__main__":
    main()
