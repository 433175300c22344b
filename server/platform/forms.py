"""Form errors next to their fields: a pydantic model's errors as {field: (message key, values)}
for every form of the platform (registration, the event editor, staff), so each page shows the
same words for the same mistake; and the form field types several forms share (a
`datetime-local` time in Swedish time)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ValidationError


def field_error(field: str, key: str) -> ValueError:
    """Raised by a rule across fields (a model validator): the error goes next to `field`."""
    return ValueError(f"{field}|{key}")


def _bounds(model: type[BaseModel] | None, name: str) -> dict[str, object]:
    """A number field's limits, for its message ("from 1 to 1440")."""
    found: dict[str, object] = {"min": 1, "max": 100_000}
    field = model.model_fields.get(name) if model else None
    for rule in field.metadata if field else ():
        if getattr(rule, "ge", None) is not None:
            found["min"] = rule.ge
        if getattr(rule, "le", None) is not None:
            found["max"] = rule.le
    return found


def form_errors(exc: ValidationError, model: type[BaseModel] | None = None,
                ) -> dict[str, tuple[str, dict[str, object]]]:
    """A form model's errors as {field: (message key, values)}, next to the fields."""
    errors: dict[str, tuple[str, dict[str, object]]] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "form"
        kind, ctx = err["type"], err.get("ctx") or {}
        message = str(ctx.get("error", "")) if kind == "value_error" else ""
        if "|" in message:  # a rule across fields names its field (field_error)
            name, key = message.split("|", 1)
            errors[name] = (key, {})
        elif kind == "string_too_long":
            errors[name] = ("error.too_long", {"max": ctx.get("max_length")})
        elif kind == "string_too_short" and int(ctx.get("min_length", 1)) > 1:
            errors[name] = ("error.too_short", {"min": ctx.get("min_length")})
        elif kind in ("missing", "string_too_short"):
            errors[name] = ("error.required", {})
        elif kind == "string_pattern_mismatch":
            errors[name] = ("error.slug" if name in ("slug", "key") else "error.choice", {})
        elif kind in ("greater_than_equal", "less_than_equal", "int_parsing", "int_from_float"):
            errors[name] = ("error.number", _bounds(model, name))
        elif name.endswith("_at"):
            errors[name] = ("error.datetime", {})
        else:
            errors[name] = ("error.choice", {})
    return errors


STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local_time(value: object) -> datetime | None:
    """A `datetime-local` value (Swedish time) as an aware datetime; "" is None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("datetime")
    parsed = datetime.fromisoformat(value)
    if not 2000 <= parsed.year <= 2100:
        raise ValueError("datetime")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=STOCKHOLM)


LocalTime = Annotated[datetime | None, BeforeValidator(local_time)]
"""A form's `datetime-local` field: Swedish time, "" for none."""


def form_time(value: datetime | None) -> str:
    """A stored time as the value of a `datetime-local` field."""
    return value.astimezone(STOCKHOLM).strftime("%Y-%m-%dT%H:%M") if value else ""
