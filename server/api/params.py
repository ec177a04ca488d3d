"""Values the API takes outside the query spec (spec.py): times, prices, currencies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from spantally.common.errors import InvalidArgument
from spantally.store import NewPrice

__all__ = [
    "no_nul",
    "parse_currency",
    "parse_decimal",
    "parse_new_price",
    "parse_rate",
    "parse_time",
]

# Far from datetime's limits, so that bucket arithmetic around a range never overflows.
_EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(8999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def parse_time(name: str, value: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is UTC, a date is its midnight UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{name}: {value!r} is not an ISO 8601 date or date-time "
            "(e.g. 2026-02-01 or 2026-02-01T10:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        moment = parsed.astimezone(timezone.utc)
    except OverflowError:
        moment = None
    if moment is None or not _EARLIEST <= moment <= _LATEST:
        raise InvalidArgument(f"{name}: {value!r} is outside the years 1900 to 8999")
    return moment


def parse_count(name: str, value: str, maximum: int = 10**12) -> int:
    """A whole number from 0 to `maximum` (digits only)."""
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) > maximum:
        raise InvalidArgument(f"{name}: {value!r} is not a whole number from 0 to {maximum}")
    return int(text)


def no_nul(name: str, value: str) -> str:
    """`value`, refused if it holds a NUL character (no PostgreSQL text can)."""
    if "\x00" in value:
        raise InvalidArgument(f"{name} must not contain a NUL character")
    return value


# -- prices and currencies -----------------------------------------------------------------

_MAX_PRICE = Decimal(1_000_000)  # USD per million tokens (or per call): beyond any real price
_PRICE_FIELDS = {
    "provider", "model", "inputPerMTok", "outputPerMTok", "cacheReadPerMTok",
    "cacheWritePerMTok", "perCall", "currency", "effectiveFrom", "effectiveTo",
}
_ALWAYS = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_decimal(name: str, value: object, *, positive: bool = False,
                  maximum: Decimal = _MAX_PRICE) -> Decimal:
    """A finite, non-negative (or positive) number, given as a JSON number or a numeric string,
    kept to 12 decimal places."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgument(f"{name} must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidArgument(f"{name}: {value!r} is not a number") from None
    if not number.is_finite():
        raise InvalidArgument(f"{name} must be a finite number, not {value!r}")
    if number < 0 or (positive and number == 0):
        raise InvalidArgument(f"{name} must be {'positive' if positive else 'zero or more'}")
    if number > maximum:
        raise InvalidArgument(f"{name} must be at most {maximum}")
    # Kept to 12 decimal places (what the database holds): JSON numbers carry binary noise
    # (0.30000000000000004), and a millionth of a millionth of a dollar is no price.
    number = number.quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN)
    if positive and number == 0:
        raise InvalidArgument(f"{name} must be positive")
    return number


def _optional_text(body: Mapping[str, object], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidArgument(f"{name} must be a non-empty string of at most {limit} characters")
    return no_nul(name, value.strip())


def parse_new_price(body: object) -> NewPrice:
    """The body of POST /api/prices."""
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    unknown = sorted(set(body) - _PRICE_FIELDS)
    if unknown:
        raise InvalidArgument(f"unknown fields {unknown}: expected some of {sorted(_PRICE_FIELDS)}")
    model = _optional_text(body, "model", 256)
    if model is None:
        raise InvalidArgument("model is required (a model id, or a pattern with *)")
    for required in ("inputPerMTok", "outputPerMTok"):
        if body.get(required) is None:
            raise InvalidArgument(f"{required} is required (USD per million tokens)")
    currency = body.get("currency", "USD")
    if currency != "USD":
        raise InvalidArgument(
            f"currency: prices are kept in USD, not {currency!r}; "
            "costs are shown in other currencies with the currency parameter")

    def price(name: str) -> Decimal | None:
        value = body.get(name)
        return None if value is None else parse_decimal(name, value)

    effective_from = (parse_time("effectiveFrom", str(body["effectiveFrom"]))
                      if body.get("effectiveFrom") is not None else _ALWAYS)
    effective_to = (parse_time("effectiveTo", str(body["effectiveTo"]))
                    if body.get("effectiveTo") is not None else None)
    if effective_to is not None and effective_to <= effective_from:
        raise InvalidArgument("effectiveTo must be after effectiveFrom")
    return NewPrice(
        provider=_optional_text(body, "provider", 100),
        model=model,
        input_per_mtok=price("inputPerMTok"),  # type: ignore[arg-type]
        output_per_mtok=price("outputPerMTok"),  # type: ignore[arg-type]
        cache_read_per_mtok=price("cacheReadPerMTok"),
        cache_write_per_mtok=price("cacheWritePerMTok"),
        per_call=price("perCall") or Decimal(0),
        effective_from=effective_from,
        effective_to=effective_to,
    )


def parse_currency(name: str, value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise InvalidArgument(f"{name}: {value!r} is not an ISO 4217 currency code (e.g. EUR)")
    return code


def parse_rate(body: object) -> Decimal:
    """The body of PUT /api/currencies/{code}: {"perUsd": 0.92}."""
    if not isinstance(body, dict) or set(body) != {"perUsd"}:
        raise InvalidArgument('the body must be {"perUsd": <units of the currency per USD>}')
    return parse_decimal("perUsd", body["perUsd"], positive=True, maximum=Decimal(10) ** 9)
