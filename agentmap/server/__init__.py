"""``agentmap serve``: workflows over HTTP (FastAPI on uvicorn), with a run viewer.

Needs the ``server`` extra (``pip install 'agentmap[server]'``). The CLI
builds the ``Application`` for the chosen environment and hands it to
``create_app``; tests and embedding code do the same with their own::

    from containers.application import create_application
    from agentmap.server import create_app

    app = create_app(create_application("test"), workflows=Path("workflows"))

docs/serving.md documents the API, the settings and deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from agentmap.server.catalog import ServerApplication

__all__ = ["create_app"]


def create_app(application: ServerApplication, *, workflows: Path | None = None) -> FastAPI:
    """The FastAPI app serving the graphs in ``workflows`` (default ``server.workflows``)."""
    try:
        from agentmap.server.app import create_app as build
    except ImportError as exc:
        raise ImportError(
            f"agentmap serve needs the server extra: pip install 'agentmap[server]' ({exc})"
        ) from exc
    return build(application, workflows=workflows)
