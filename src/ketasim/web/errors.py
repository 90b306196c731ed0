"""Errors of the web layer."""


class WebInputError(ValueError):
    """A request that is well-formed but cannot be served as asked (answered with 422)."""
