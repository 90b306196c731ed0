"""Web dashboard and JSON API of ketasim (`ketasim serve`). Needs the `web` extra (fastapi, uvicorn, plotly)."""

from ketasim.web.app import create_app, serve

__all__ = ["create_app", "serve"]
