"""Errors of the web layer, and the one shape every error response has."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class WebInputError(ValueError):
    """A request that is well-formed but cannot be served as asked (answered with 422)."""


def error_response(status: int, detail: str, errors: list | None = None, headers: dict | None = None) -> JSONResponse:
    """An error answer: one plain sentence in `detail`, per-field messages (if any) in `errors`."""
    return JSONResponse(status_code=status, content={"detail": detail, "errors": errors or []}, headers=headers)
