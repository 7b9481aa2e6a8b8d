"""Running the agent: listeners up, signals handled (HUP reloads, TERM drains), pid file.

The process prints one ``tokenrack agent: listening on …`` line per address to stderr once
every listener accepts, so a supervisor (or a test) knows where and when it is ready.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from tokenrack.agent.app import build_app
from tokenrack.agent.listen import Listener, default_socket_path, open_listener, parse_listener
from tokenrack.agent.state import AgentState, load
from tokenrack.errors import TokenrackError

__all__ = ["ServeOptions", "serve"]

log = logging.getLogger("tokenrack.agent")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``tokenrack serve`` was asked to do.

    Attributes:
        config: The config file (discovered when None).
        listen: ``--listen`` values (the default unix socket when empty).
        allow_non_loopback: Whether a TCP listener may bind a non-loopback address.
        socket_mode: The unix sockets' permissions.
        pid_file: Where to write the process id (removed at exit).
        drain_seconds: How long SIGTERM waits for requests in flight.
    """

    config: str | None = None
    listen: Sequence[str] = ()
    allow_non_loopback: bool = False
    socket_mode: int = 0o600
    pid_file: str | None = None
    drain_seconds: float = 30.0


def _listeners(options: ServeOptions) -> list[tuple[Listener, bool]]:
    if not options.listen:
        return [(Listener(unix=default_socket_path()), True)]
    return [
        (parse_listener(text, allow_non_loopback=options.allow_non_loopback), False)
        for text in options.listen
    ]


def serve(options: ServeOptions) -> int:
    """Run the agent until SIGTERM or SIGINT; return the exit code (0 after a drain).

    Raises:
        ConfigError: The config, its ``agent`` section or a listen address is unusable.
        SecretError: The agent's bearer or header secret cannot be read.
    """
    listeners = _listeners(options)
    state = AgentState(options.config, load(options.config))
    _warn_unusable(state)
    sockets: list[tuple[Listener, socket.socket]] = []
    try:
        for listener, default in listeners:
            sockets.append(
                (listener, open_listener(listener, default=default, mode=options.socket_mode))
            )
        return asyncio.run(_run(state, sockets, options))
    finally:
        state.close()
        for listener, sock in sockets:
            sock.close()
            if listener.unix is not None:
                Path(listener.unix).unlink(missing_ok=True)


def _warn_unusable(state: AgentState) -> None:
    """Say at start which served profiles cannot be used; the others are served anyway."""
    for name in state.settings.profiles:
        registry = state.registry(name)
        problem = registry.problems().get(name) if registry is not None else None
        if problem is not None:
            first = str(problem).splitlines()[0]
            log.warning("profile %s is served but unusable; callers get its error: %s", name, first)


def _write_pid(path: str) -> None:
    """Write our pid, replacing a stale file but never following a link."""
    Path(path).unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as file:
        file.write(f"{os.getpid()}\n")


def _reload(state: AgentState) -> None:
    try:
        rebuilt = state.reload()
    except TokenrackError as error:
        log.error("reload failed, the previous config stays in force: %s", error)
        return
    log.warning("config reloaded; profiles rebuilt: %s", ", ".join(rebuilt) or "none")


async def _run(
    state: AgentState, sockets: list[tuple[Listener, socket.socket]], options: ServeOptions
) -> int:
    app = build_app(state)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=options.drain_seconds
    )
    await runner.setup()
    for _, sock in sockets:
        await web.SockSite(runner, sock, shutdown_timeout=options.drain_seconds).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, _reload, state))
    if options.pid_file:
        _write_pid(options.pid_file)
    try:
        for listener, sock in sockets:
            print(f"tokenrack agent: listening on {listener.describe(sock)}", file=sys.stderr)
        sys.stderr.flush()
        await stop.wait()
        log.warning("stopping: draining requests in flight")
        await runner.cleanup()
    finally:
        if options.pid_file:
            Path(options.pid_file).unlink(missing_ok=True)
    return 0
