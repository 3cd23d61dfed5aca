"""``python -m tests.flows.hook_runner PORT [--hold]``: the module as ``serve`` runs it (lifespan
and background workers included), settings from the ``ZALO_OA_*`` environment.

``--hold`` accepts webhooks but never applies them, so a test can kill the process with the
event accepted and not yet applied, whatever the timing.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn

from zalo_oa.app import create_app
from zalo_oa.http_protocol import UVICORN_HTTP
from zalo_oa.settings import Settings


async def _never(*_: object, **__: object) -> None:
    await asyncio.Event().wait()


def main() -> None:
    port = int(sys.argv[1])
    app = create_app(Settings())
    if "--hold" in sys.argv:
        app.state.services.applier.run = _never
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http=UVICORN_HTTP
    )


if __name__ == "__main__":
    main()
