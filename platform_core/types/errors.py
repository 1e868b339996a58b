"""Machine-readable validation errors.

Each rule raises a `PydanticCustomError` whose `type` is the reason code a client sees
(upper-cased) and whose context names the offending field when the rule sits on a model
rather than on the field itself.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError


def rule_error(code: str, message: str, *, field: str | None = None, **ctx: Any) -> Exception:
    """Build the error for a broken rule; `field` is appended to the error location."""
    context: dict[str, Any] = dict(ctx)
    if field is not None:
        context["field"] = field
    # Braces in user-supplied text must not be read as template placeholders.
    template = message.replace("{", "{{").replace("}", "}}")
    return PydanticCustomError(code, template, context)


def describe_validation_errors(
    errors: list[Any], *, drop_prefix: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Pydantic errors as client-facing records: dotted field, reason code, message.

    `drop_prefix` removes framework location parts (FastAPI puts "body" first).
    """
    described = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if tuple(loc[: len(drop_prefix)]) == drop_prefix:
            loc = loc[len(drop_prefix) :]
        ctx = err.get("ctx") or {}
        if err.get("type") == "json_invalid":
            loc = []  # the location is a byte offset, not a field
        if isinstance(ctx.get("field"), str):
            loc.append(ctx["field"])
        described.append(
            {
                "field": ".".join(loc) or None,
                "code": str(err.get("type", "invalid")).upper(),
                "message": str(err.get("msg", "invalid value")),
            }
        )
    return described
