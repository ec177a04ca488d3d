"""What is written from the spec (spec.ENDPOINTS) into files other tools read:

- proto/spantally/analytics/v1/analytics.proto, the gRPC service (compiled at build time);
- sdk/_operations.py, the Python clients' typed methods (HTTP and gRPC);
- docs/api-parameters.md, every operation's parameters.

`python -m spantally.server.api.generate DIR` writes them under the checkout DIR; with
`--check` it only says which differ (tests/test_spec.py runs that), so that a change to the
spec and its copies land together.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from .spec import ENDPOINTS, GRPC_PACKAGE, GRPC_SERVICE, Endpoint, Kind, Param

__all__ = ["generated_files", "main"]
_HEADER = "Written by `make generate` (server/api/generate.py) from server/api/spec.py: edit that."


def _wrap(text: str, prefix: str, width: int = 96) -> Iterator[str]:
    line = ""
    for word in text.split():
        if line and len(prefix) + len(line) + 1 + len(word) > width:
            yield prefix + line
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        yield prefix + line


def _grpc_params(endpoint: Endpoint) -> list[Param]:
    return sorted((p for p in endpoint.params if not p.http_only), key=lambda p: p.number)


def _proto_type(param: Param) -> str:
    return "int64" if param.kind is Kind.INTEGER else "string"


def proto() -> str:
    lines = [f"// {_HEADER}", "//",
             "// SpanTally's query operations over gRPC: the same operations, parameters and",
             "// answers as the HTTP API (docs/api.md). Each field is the HTTP parameter of the",
             "// same name (in snake case), checked the same way: a wrong value is answered",
             "// INVALID_ARGUMENT naming it. Each answer's `body` is the HTTP API's JSON answer.",
             "// Send the project API key as `authorization: Bearer st_...` metadata.",
             'syntax = "proto3";', "", f"package {GRPC_PACKAGE};", "",
             'import "google/protobuf/struct.proto";', "", "service AnalyticsService {"]
    for endpoint in ENDPOINTS:
        lines += list(_wrap(f"{endpoint.summary} (GET {endpoint.path}).", "  // "))
        lines.append(f"  rpc {endpoint.method}({endpoint.method}Request) returns "
                     f"({endpoint.method}Response);")
    lines.append("}")
    for endpoint in ENDPOINTS:
        lines += ["", f"message {endpoint.method}Request {{"]
        for param in _grpc_params(endpoint):
            lines += list(_wrap(param.describe(), "  // "))
            lines.append(f"  optional {_proto_type(param)} {param.snake} = {param.number};")
        lines += ["}", "", f"message {endpoint.method}Response {{",
                  f"  // The JSON answer of GET {endpoint.path}.",
                  "  google.protobuf.Struct body = 1;", "}"]
    return "\n".join(lines) + "\n"


_PYTHON_TYPES = {Kind.TIME: "datetime | str | None", Kind.INTEGER: "int | None",
                 Kind.TAGS: "Mapping[str, str] | str | None"}


def operations() -> str:
    lines = ['"""The API\'s query operations as typed methods, shared by the HTTP and the gRPC',
             "client (client.py).", "", f'{_HEADER}"""', "",
             "from __future__ import annotations", "",
             "from collections.abc import Mapping", "from datetime import datetime",
             "from typing import Any", "", '__all__ = ["GRPC_SERVICE", "ROUTES", "TIMES", "AsyncOperations", "Operations"]', "",
             f'GRPC_SERVICE = "{GRPC_SERVICE}"', "",
             "ROUTES: dict[str, tuple[str, str]] = {"]
    for endpoint in ENDPOINTS:
        lines.append(f'    "{endpoint.operation}": ("{endpoint.path}", "{endpoint.method}"),')
    times = sorted({p.name for e in ENDPOINTS for p in e.params if p.kind is Kind.TIME})
    lines += ["}", '"""Each operation\'s HTTP path and gRPC method."""', "",
              "TIMES = frozenset({" + ", ".join(f'"{t}"' for t in times) + "})",
              '"""The parameters that are times: also given as datetimes or "7d", "24h"."""', "",
              "",
              *_methods("Operations", ""), "",
              *_methods("AsyncOperations", "async ")]
    return "\n".join(lines).rstrip() + "\n"


def _methods(name: str, kind: str) -> list[str]:
    """A class with one method per operation, calling `_call` (a coroutine when `kind` is
    "async ")."""
    lines = [f"class {name}:",
             f'    """One {"coroutine" if kind else "method"} per operation; a parameter left '
             'None takes the server\'s default."""', "",
             f"    {kind}def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:",
             "        raise NotImplementedError", ""]
    for endpoint in ENDPOINTS:
        params = _grpc_params(endpoint)
        required = [p for p in params if p.in_path]
        optional = [p for p in params if not p.in_path]
        signature = ["self"] + [f"{p.python}: str" for p in required]
        if optional:
            signature.append("*")
            signature += [f"{p.python}: {_PYTHON_TYPES.get(p.kind, 'str | None')} = None"
                          for p in optional]
        lines.append(f"    {kind}def {endpoint.operation}(")
        lines += [" " * 8 + part + "," for part in signature]
        lines.append("    ) -> dict[str, Any]:")
        lines += _wrap(f'"""{endpoint.summary}: GET {endpoint.path}."""', " " * 8)
        call = "await self._call" if kind else "self._call"
        lines.append(f'        return {call}("{endpoint.operation}", {{')
        lines += [f'            "{p.name}": {p.python},' for p in params]
        lines.append("        })")
        lines.append("")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def parameters_doc() -> str:
    lines = ["# API parameters", "", f"<!-- {_HEADER} -->", "",
             "Every query operation, over HTTP (`GET` with a query string) and gRPC",
             f"(`{GRPC_SERVICE}`, the same names in snake case). A parameter given twice, an",
             "unknown one or a wrong value is answered 400 / `INVALID_ARGUMENT` naming it.", ""]
    for endpoint in ENDPOINTS:
        lines += [f"## `{endpoint.operation}`: GET `{endpoint.path}`", "",
                  f"{endpoint.summary}. gRPC: `{endpoint.method}`."
                  + ("" if endpoint.listing else " JSON only."), "",
                  "| parameter | type | default | description |", "|---|---|---|---|"]
        for param in endpoint.params:
            where = " (path)" if param.in_path else ""
            grpc = " HTTP only." if param.http_only else ""
            default = "" if param.default is None else f"`{param.default}`"
            lines.append(f"| `{param.name}`{where} | {param.kind.value} | {default} | "
                         f"{_cell(param.describe())}{grpc} |")
        lines.append("")
    return "\n".join(lines)


def generated_files() -> dict[str, str]:
    """Each generated file's path in the checkout, and its text."""
    return {"proto/spantally/analytics/v1/analytics.proto": proto(),
            "sdk/_operations.py": operations(),
            "docs/api-parameters.md": parameters_doc()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--check", action="store_true", help="only say which files differ")
    options = parser.parse_args(argv)
    stale = []
    for relative, text in generated_files().items():
        path = options.checkout / relative
        if path.exists() and path.read_text() == text:
            continue
        stale.append(relative)
        if not options.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for relative in stale:
        print(("stale: " if options.check else "wrote: ") + relative)
    return 1 if stale and options.check else 0


if __name__ == "__main__":
    sys.exit(main())
