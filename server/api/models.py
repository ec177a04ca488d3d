"""The management API's bodies and answers (prices, currencies, projects, keys, limits) as
pydantic models: the OpenAPI document's schemas come from them (openapi.py), and the tests
validate real answers against them (extra fields forbidden), so that a shape function and its
description cannot drift apart. The handlers parse bodies with their own messages
(params.py, admin.py); schemathesis holds those to these schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from spantally.store import MAX_TAG_KEYS, SCOPES, TAG_KEY_PATTERN

__all__ = [
    "TIME_SCHEMA",
    "ApiKey",
    "CallCost",
    "CreatedKey",
    "CreatedProject",
    "DismissedAnomaly",
    "Health",
    "Keys",
    "Limits",
    "NewTagKeys",
    "TagKeys",
    "TagKeysChanged",
    "NewKey",
    "NewLimits",
    "NewPrice",
    "NewProject",
    "NewRate",
    "Price",
    "PriceResolution",
    "Prices",
    "Project",
    "Projects",
    "Rate",
    "Rates",
]

TIME_SCHEMA: dict[str, Any] = {
    "type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}],
    # years 1901 to 8998: any offset keeps them within what the API accepts (1900 to 8999)
    "pattern": "^(190[1-9]|19[1-9][0-9]|[2-7][0-9]{3}|8[0-8][0-9]{2}|89[0-8][0-9]|899[0-8])-",
    "description": "ISO 8601 date or date-time; UTC unless it has an offset. A date is its "
    "midnight UTC. Years 1900 to 8999.", "examples": ["2026-02-01", "2026-02-01T10:00:00Z"]}
_NO_NUL = r"^[^\x00]*$"
_NAME = r"^[^\x00]*[^\s\x00][^\x00]*$"  # a name SpanTally trims: something besides blanks
_DECIMAL = r"^0*[0-9]{1,6}(\.[0-9]+)?$"  # under 1,000,000
# A rate: positive after rounding to 12 places, under 1,000,000,000.
_POSITIVE_DECIMAL = r"^(0*[1-9][0-9]{0,8}(\.[0-9]+)?|0*\.[0-9]{0,11}[1-9][0-9]*)$"

Time = Annotated[str, WithJsonSchema(TIME_SCHEMA)]
NumberText = Annotated[
    Annotated[float, Field(ge=0, le=1_000_000)] | Annotated[str, Field(pattern=_DECIMAL)],
    Field(description="A number, or a decimal string (exact): zero or more, at most "
          "1,000,000; kept to 12 decimal places.")]
Scope = Literal[SCOPES]  # type: ignore[valid-type]


class _Body(BaseModel):
    """What a client sends: no other fields."""

    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    """What the API answers: exactly these fields (validated in the tests)."""

    model_config = ConfigDict(extra="forbid")


class Price(_Answer):
    id: int
    provider: str | None
    model: str
    inputPerMTok: float
    outputPerMTok: float
    cacheReadPerMTok: float | None
    cacheWritePerMTok: float | None
    perCall: float
    currency: Literal["USD"]
    effectiveFrom: str
    effectiveTo: str | None
    createdAt: str


class Prices(_Answer):
    prices: list[Price]


class NewPrice(_Body):
    provider: Annotated[str, Field(min_length=1, max_length=100, pattern=_NAME)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=256, pattern=_NAME,
                                description="A model id, or a pattern with *")]
    inputPerMTok: NumberText
    outputPerMTok: NumberText
    cacheReadPerMTok: NumberText | None = None
    cacheWritePerMTok: NumberText | None = None
    perCall: NumberText | None = None
    currency: Literal["USD"] = "USD"
    effectiveFrom: Time | None = None
    effectiveTo: Time | None = None


class CallCost(_Answer):
    """What a call of these token counts costs under the price that applies (null: none)."""
    inputTokens: int
    outputTokens: int
    cacheReadTokens: int
    cacheWriteTokens: int
    costNanoUsd: int | None
    costUsd: float | None


class PriceResolution(_Answer):
    provider: str | None
    model: str
    at: str
    source: Literal["custom", "catalog"] | None
    custom: Price | None
    catalog: dict[str, Any] | None
    call: CallCost


class Rate(_Answer):
    currency: str
    perUsd: float
    updatedAt: str


class Rates(_Answer):
    base: Literal["USD"]
    rates: list[Rate]


class NewRate(_Body):
    perUsd: Annotated[float, Field(ge=1e-12, le=1_000_000_000)] | Annotated[
        str, Field(pattern=_POSITIVE_DECIMAL)] = Field(
        description="Units of the currency per USD.")


class Project(_Answer):
    id: int
    name: str
    createdAt: str
    activeKeys: int


class Projects(_Answer):
    projects: list[Project]


class NewProject(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=_NAME)]


class CreatedProject(_Answer):
    id: int
    name: str
    key: str = Field(description="Its first key, with every scope: shown this once.")
    scopes: list[Scope]


class ApiKey(_Answer):
    keyId: str
    name: str
    scopes: list[Scope]
    createdAt: str
    lastUsedAt: str | None
    revokedAt: str | None


class Keys(_Answer):
    keys: list[ApiKey]


class NewKey(_Body):
    name: Annotated[str, Field(max_length=200, pattern=_NO_NUL)] = ""
    scopes: Annotated[list[Scope], Field(min_length=1)] = ["ingest", "read"]


class CreatedKey(_Answer):
    key: str = Field(description="The secret: shown this once.")
    keyId: str
    name: str
    scopes: list[Scope]


class LimitValues(_Answer):
    spansPerMinute: int | None
    apiRequestsPerSecond: float | None


class Limits(LimitValues):
    defaults: LimitValues = Field(description="The server's, for a project without its own.")


class NewLimits(_Body):
    spansPerMinute: Annotated[int, Field(ge=1, lt=10 ** 12)] | None = None
    apiRequestsPerSecond: Annotated[float, Field(gt=0, lt=1e12)] | None = None


TagKey = Annotated[str, Field(pattern=TAG_KEY_PATTERN)]


class TagKeys(_Answer):
    tagKeys: list[TagKey] = Field(description=(
        "The tag keys the project declares: a question about one of them (a breakdown by "
        "tags.<key>, a tags filter on it) and no other filter reads aggregates over any range."))
    filling: list[TagKey] = Field(description=(
        "Those whose rows a declaration is still computing from the raw calls: questions about "
        "them read raw calls until it ends."))


class NewTagKeys(_Body):
    tagKeys: Annotated[list[TagKey], Field(max_length=MAX_TAG_KEYS)]


class TagKeysChanged(TagKeys):
    added: list[TagKey]
    removed: list[TagKey]
    rowsFilled: int = Field(description="Aggregate rows computed from the raw calls still held, "
                                        "for the keys added.")


class DismissedAnomaly(_Answer):
    id: Annotated[str, Field(pattern="^anomaly_[0-9a-f]{16}$")]
    status: Literal["dismissed"]
    dismissedAt: Time


class Health(BaseModel):
    """`status` ("ok" or what is wrong), the storage mode, and `maintenance`: the TimescaleDB
    version and edition; in `timescale` mode every policy with its last runs, the
    aggregates' watermarks and the columnstore's chunks (docs/operations.md)."""

    model_config = ConfigDict(extra="allow")
    status: str
