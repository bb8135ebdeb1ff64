"""Run the test app (`apps.server`) in this process: `python runner.py CONFIG_JSON`.

CONFIG_JSON keys: `transport` ("http" | "stdio"), `port` (http), `db` (a SQLite file path or a
`postgresql://` URL), `leases` and `retention` (keyword arguments of `Leases` / `Retention`). SIGINT
and SIGTERM ask the server to stop (running tasks then get the shutdown grace).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import apps

from mcptasks import Leases, Retention


def main(raw: str) -> None:
    config = json.loads(raw)
    apps.server.configure(
        db=config["db"],
        leases=Leases(**config.get("leases", {})),
        retention=Retention(**config.get("retention", {})),
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.add_signal_handler(signal.SIGINT, apps.server.request_stop)
    loop.add_signal_handler(signal.SIGTERM, apps.server.request_stop)
    try:
        if config["transport"] == "http":
            loop.run_until_complete(apps.server.run_http_async(host="127.0.0.1", port=int(config["port"])))
        else:
            loop.run_until_complete(apps.server.run_stdio_async())
            if apps.server.stop_requested:
                # As `mcptasks serve` does: the SDK's stdin reader thread cannot be interrupted.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
    finally:
        loop.close()


if __name__ == "__main__":
    main(sys.argv[1])
