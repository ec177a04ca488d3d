"""What is written from the spec (spec.ENDPOINTS) into files other tools read:

- proto/spantally/analytics/v1/analytics.proto, the gRPC service, its answers from schemas.py
  (compiled at build time);
- sdk/_operations.py, the Python clients' typed methods (HTTP and gRPC);
- docs/api-parameters.md, every operation's parameters.

`python -m spantally.server.api.generate DIR` writes them under the checkout DIR; with
`--check` it only says which differ (tests/test_spec.py runs that), so that a change to the
spec and its copies land together.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class _Numbers:
    """The field numbers of the .proto as committed: a field keeps its number for good, a new
    one takes the next free number of its message, and a removed one's number stays reserved
    (numbers are the wire format)."""

    def __init__(self, committed: str) -> None:
        self._fields: dict[str, dict[str, int]] = {}
        self._reserved: dict[str, set[int]] = {}
        path: list[str] = []
        for line in committed.splitlines():
            code = line.split("//")[0].strip()
            if match := re.fullmatch(r"message (\w+) \{", code):
                path.append(match[1])
            elif code == "}" and path:
                path.pop()
            elif match := re.fullmatch(r"reserved ([\d, ]+);", code):
                self._reserved.setdefault(".".join(path), set()).update(
                    int(n) for n in match[1].split(","))
            elif path and (match := re.fullmatch(r".*\b(\w+) = (\d+);", code)):
                self._fields.setdefault(".".join(path), {})[match[1]] = int(match[2])

    def assign(self, message: str, names: list[str]) -> tuple[dict[str, int], list[int]]:
        """Each field's number, and the numbers to keep reserved."""
        old = self._fields.get(message, {})
        used = set(old.values()) | self._reserved.get(message, set())
        numbers: dict[str, int] = {}
        following = max(used, default=0) + 1
        for name in names:
            if name in old:
                numbers[name] = old[name]
            else:
                numbers[name], following = following, following + 1
        return numbers, sorted(used - set(numbers.values()))


_SCALARS = {"integer": "int64", "number": "double", "string": "string", "boolean": "bool"}
_STRUCT = "google.protobuf.Struct"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _field_type(name: str, schema: dict[str, Any], required: bool = True
                ) -> tuple[str, dict[str, Any] | None]:
    """A property's proto type (with `optional ` or `repeated ` first), and the schema of a
    message to nest for it, named after the property. A scalar that may be null, or absent
    (not `required`), is `optional`: it has presence."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types or None in schema.get("enum", ())
    optional = "optional " if nullable or not required else ""
    kind = next((t for t in types if t != "null"), None)
    if "enum" in schema:
        return f"{optional}string", None
    if kind == "array":
        items = schema["items"]
        item_type, nested = _field_type(name, items)
        return f"repeated {item_type}", nested
    if kind == "object" and "properties" in schema:
        return name[:1].upper() + name[1:], schema
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict) and (
            not nullable):
        value_type, nested = _field_type(name[:1].upper() + name[1:] + "Value",
                                         schema["additionalProperties"])
        return f"map<string, {value_type}>", nested
    if kind in _SCALARS:
        return f"{optional}{_SCALARS[kind]}", None
    return _STRUCT, None  # free-form: explain, tags that may be null


def _message(name: str, schema: dict[str, Any], path: str, numbers: _Numbers,
             indent: str = "") -> list[str]:
    """The message of an answer's JSON Schema, its objects as nested messages."""
    properties: dict[str, Any] = schema["properties"]
    assigned, reserved = numbers.assign(path, [_snake(p) for p in properties])
    nested: list[str] = []
    fields: list[str] = []
    required = set(schema.get("required", ()))
    for prop, sub in properties.items():
        proto_type, nested_schema = _field_type(prop, sub, prop in required)
        if nested_schema is not None:
            nested_name = proto_type.split()[-1].removeprefix("map<string,").rstrip(">")
            nested += _message(nested_name, nested_schema, f"{path}.{nested_name}", numbers,
                               indent + "  ")
        if "description" in sub:
            fields += _wrap(sub["description"], indent + "  // ")
        fields.append(f"{indent}  {proto_type} {_snake(prop)} = {assigned[_snake(prop)]};")
    if reserved:
        fields.append(f"{indent}  reserved {', '.join(map(str, reserved))};")
    return [f"{indent}message {name} {{", *nested, *fields, f"{indent}}}"]


def proto(committed: str = "") -> str:
    """The .proto, numbering fields as `committed` (the file as it is) did."""
    numbers = _Numbers(committed)
    lines = [f"// {_HEADER}", "//",
             "// SpanTally's query operations over gRPC: the same operations, parameters and",
             "// answers as the HTTP API (docs/api.md). Each request field is the HTTP parameter",
             "// of the same name (in snake case), checked the same way: a wrong value is",
             "// answered INVALID_ARGUMENT naming it. Each answer is the HTTP API's JSON answer",
             "// as a message: its JSON mapping is that answer, except that a null field, and",
             "// a map the answer does not have (`changes` without a comparison), are absent.",
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
        lines += ["}", "", f"// The answer of GET {endpoint.path}."]
        lines += _message(f"{endpoint.method}Response", dict(endpoint.response),
                          f"{endpoint.method}Response", numbers)
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


PROTO = "proto/spantally/analytics/v1/analytics.proto"


def generated_files(checkout: Path) -> dict[str, str]:
    """Each generated file's path in the checkout, and its text (the .proto numbered as the
    checkout's is)."""
    committed = checkout / PROTO
    return {PROTO: proto(committed.read_text() if committed.exists() else ""),
            "sdk/_operations.py": operations(),
            "docs/api-parameters.md": parameters_doc()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--check", action="store_true", help="only say which files differ")
    options = parser.parse_args(argv)
    stale = []
    for relative, text in generated_files(options.checkout).items():
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
