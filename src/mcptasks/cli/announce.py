"""What `mcptasks serve` checks and says around its start and stop: the port probe (before the
database is touched), the lines printed once it listens (where, the database, how to connect a
client, how to stop), and what a stop waits for.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from mcptasks.cli.errors import CLIError
from mcptasks.cli.location import sqlite_folder
from mcptasks.server.owner import current_local_user

#: The MCP Inspector whose CLI the start-up lines suggest (the version the README was checked with).
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


def check_port_free(host: str, port: int) -> None:
    """Bind `host:port` and let it go at once: whether `serve` can listen there.

    SO_REUSEADDR as uvicorn sets it, so a port whose last connections linger in TIME_WAIT counts
    as free (as it is for uvicorn), and one another process listens on does not.
    Raises: CLIError naming the port (and --port) or the host (and --host).
    """
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CLIError(
            f"cannot listen on --host {host}: {exc.strerror}; give an address of this machine, e.g. 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CLIError(
                    f"port {port} on {host} is in use (another server?): stop it, or choose another "
                    "port with --port PORT (MCPTASKS_PORT)"
                ) from None
            raise CLIError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --host or --port"
            ) from None


def http_url(host: str, port: int) -> str:
    """The Streamable HTTP endpoint `serve` listens on, as a client writes it."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/mcp"


def client_entry(*, demo: bool, app: str | None, db: str, db_is_default: bool) -> dict[str, Any]:
    """The `mcpServers` entry (Claude Desktop's format, which other clients share) that starts this
    server over stdio: this `mcptasks` by its absolute path, the app (`--demo` or APP), and `--db`
    when one was given (`db_is_default` False)."""
    launcher = Path(sys.argv[0])
    if launcher.name in ("mcptasks", "mcptasks.exe"):
        command, args = str(launcher.absolute()), []
    else:  # `python -m mcptasks.cli`
        command, args = sys.executable, ["-m", "mcptasks.cli"]
    args.append("serve")
    if demo:
        args.append("--demo")
    elif app is not None:
        target, _, attribute = app.rpartition(":")
        if target.endswith(".py") or "/" in target or os.sep in target:
            target = str(Path(target).expanduser().absolute())  # a client starts it from elsewhere
        args.append(f"{target}:{attribute}")
    args += ["--transport", "stdio"]
    if not db_is_default:
        folder = sqlite_folder(db)
        args += ["--db", str(folder / Path(db).name) if folder is not None else db]
    return {"mcptasks": {"command": command, "args": args}}


def startup_lines(where: str, database: str, revision: str | None, entry: dict[str, Any]) -> list[str]:
    """The lines `serve` prints once it accepts connections on `where` ("stdio" or its URL): the
    database, its schema revision, how to connect a client (`entry` is the `mcpServers` entry
    for stdio) and how to stop."""
    lines = [f"listening on {where}", f"database {database}", f"schema revision {revision}"]
    if where == "stdio":
        owner = current_local_user()
        lines.append(f"tasks belong to the local user {owner.subject} ({owner.key})")
        lines.append(f"to have a client start this server, add to its mcpServers: {json.dumps(entry)}")
        lines.append("Ctrl-C (or closing stdin) to stop")
    else:
        lines.append(f"try it: npx {INSPECTOR} --cli {where} --method tools/list")
        lines.append("Ctrl-C to stop")
    return lines


def stop_line(running: int, grace_s: float) -> str:
    """What a stop says it waits for: `running` tools for up to `grace_s` seconds."""
    if running == 0:
        return "stopping: no tool is running (Ctrl-C again to stop at once)"
    tools = "tool" if running == 1 else "tools"
    return (
        f"stopping: waiting up to {grace_s:g} s for {running} running {tools} (Ctrl-C again to stop at once)"
    )


__all__ = ["INSPECTOR", "check_port_free", "client_entry", "http_url", "startup_lines", "stop_line"]
