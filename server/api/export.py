"""One body, three formats: JSON as is; CSV and NDJSON streamed, one line per row of its list.

CSV columns are the row's fields in order; a nested object becomes dotted columns
(`previous.calls`), null an empty cell, true/false the words.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

__all__ = ["flatten", "respond"]

_CHUNK_ROWS = 500
_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
# The name can carry a caller's text (`breakdown-tags.<key>`): a header takes no control
# characters or quotes, and a saved file is best without slashes.
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def respond(request: web.Request, fmt: str, body: Mapping[str, Any], *,
                  rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                  name: str) -> web.StreamResponse:
    """`body` as JSON, or `rows` (the list in it) as CSV with `columns` or as NDJSON."""
    if fmt == "json":
        return web.json_response(body)
    response = web.StreamResponse(headers={
        "Content-Type": f"{_TYPES[fmt]}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{_UNSAFE_IN_FILENAME.sub("_", name)}.{fmt}"',
    })
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(columns)
    for start in range(0, len(rows), _CHUNK_ROWS):
        for row in rows[start:start + _CHUNK_ROWS]:
            if fmt == "csv":
                flat = flatten(row)
                writer.writerow([_cell(flat.get(column)) for column in columns])
            else:
                buffer.write(json.dumps(row, separators=(",", ":")) + "\n")
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response
