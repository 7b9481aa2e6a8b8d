"""Agent benchmark (issue 14): a cached token through `tokenrack serve`, beside its floors.

Requests per second and p50/p99 latency of `GET /v1/token/billing` (a cached token) over
the unix socket and over loopback TCP, with 1, 8 and 64 concurrent clients (aiohttp, one
session per level), beside:
- an in-process `Registry.get_token` (what a Python service pays without the agent);
- a minimal aiohttp server answering a constant on the same kinds of socket (the HTTP
  stack's own cost): the agent's overhead over its stack is the ratio of the two.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
from core import p99, per_call_ns, record

from tokenrack.core.registry import Registry
from tokenrack.testing import TokenEmulator

REQUESTS = 3000
LEVELS = (1, 8, 64)
TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))
BEARER = "bench-bearer"

CONSTANT = textwrap.dedent(
    """
    import socket, sys
    from aiohttp import web
    async def answer(request):
        return web.json_response({"access_token": "x" * 40, "token_type": "Bearer"})
    app = web.Application()
    app.router.add_get("/v1/token/billing", answer)
    async def main():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.UnixSite(runner, sys.argv[1]).start()
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        port = tcp._server.sockets[0].getsockname()[1]
        print(f"listening on unix:{sys.argv[1]}", file=sys.stderr)
        print(f"listening on tcp://127.0.0.1:{port}", file=sys.stderr, flush=True)
        import asyncio
        await asyncio.Event().wait()
    import asyncio
    asyncio.run(main())
    """
)


def start(argv: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stderr=out, stdout=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"listening on tcp://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return process, int(found.group(1))
        time.sleep(0.05)
    raise RuntimeError(log.read_text())


async def load(url: str, sock: str | None, clients: int) -> dict[str, float]:
    connector: aiohttp.BaseConnector = (
        aiohttp.UnixConnector(path=sock, limit=clients)
        if sock
        else aiohttp.TCPConnector(limit=clients)
    )
    latencies: list[float] = []
    per_client = REQUESTS // clients
    headers = {"Authorization": f"Bearer {BEARER}"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            for _ in range(per_client):
                started = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append(time.perf_counter() - started)

        async with session.get(url, headers=headers) as warm:  # connect, and a cached token
            await warm.read()
        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": p99(latencies) * 1000,
    }


def measure(sock: str, port: int, host: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for clients in LEVELS:
        found[f"unix_{clients}"] = asyncio.run(
            load(
                f"http://{host}/v1/token/billing",
                sock,
                clients,
            )
        )
        found[f"tcp_{clients}"] = asyncio.run(
            load(
                f"http://127.0.0.1:{port}/v1/token/billing",
                None,
                clients,
            )
        )
    return found


def main() -> None:
    with TokenEmulator() as emulator, tempfile.TemporaryDirectory(dir="/tmp") as work:
        os.chmod(work, 0o700)
        config = Path(work) / "agent.yaml"
        config.write_text(
            "version: 1\nprofiles:\n  billing:\n    provider: generic\n"
            f"    token_url: {emulator.token_url}\n    client_id: test-client\n"
            "    client_secret: {env: BENCH_SECRET}\n"
            f"agent:\n  profiles:\n    billing: {{uids: [{os.getuid()}], tcp: true}}\n"
            "  tcp_token: {env: TOKENRACK_AGENT_TOKEN}\n"
        )
        config.chmod(0o600)
        env = {**os.environ, "BENCH_SECRET": "test-secret", "TOKENRACK_AGENT_TOKEN": BEARER}
        agent_sock = str(Path(work) / "agent.sock")
        agent, agent_port = start(
            [
                TOKENRACK,
                "--config",
                str(config),
                "serve",
                "--listen",
                f"unix:{agent_sock}",
                "--listen",
                "tcp://127.0.0.1:0",
            ],
            {**env, "PYTHONWARNINGS": "ignore"},
            Path(work) / "agent.log",
        )
        # The request log is part of the agent's cost: it stays on, into a file.
        const_sock = str(Path(work) / "const.sock")
        constant, const_port = start(
            [sys.executable, "-c", CONSTANT, const_sock], env, Path(work) / "const.log"
        )
        try:
            agent_results = measure(agent_sock, agent_port, "localhost")
            const_results = measure(const_sock, const_port, "localhost")
        finally:
            for process in (agent, constant):
                process.terminate()
                process.wait(30)
        os.environ["BENCH_SECRET"] = "test-secret"
        registry = Registry.from_file(str(config))
        registry.get_token("billing")
        samples = per_call_ns(lambda: registry.get_token("billing"), batches=300)
        registry.close()
    in_process = {"p50_us": statistics.median(samples) / 1000, "p99_us": p99(samples) / 1000}
    results = {"agent": agent_results, "constant": const_results, "in_process": in_process}
    rows = []
    for kind in ("unix", "tcp"):
        for clients in LEVELS:
            a = agent_results[f"{kind}_{clients}"]
            c = const_results[f"{kind}_{clients}"]
            rows.append(
                f"| {kind} | {clients} | {a['rps']:.0f} | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} ms"
                f" | {c['rps']:.0f} | {c['p50_ms']:.2f} / {c['p99_ms']:.2f} ms"
                f" | {c['rps'] / a['rps']:.2f}x |"
            )
    table = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} cores, shared), "
            f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}; {REQUESTS} requests per row, "
            "client and server on the same host.",
            "",
            "| socket | clients | agent req/s | agent p50 / p99 | constant server req/s | constant p50 / p99 | agent overhead (constant req/s ÷ agent req/s) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"In-process `Registry.get_token` (cache hit): p50 {in_process['p50_us']:.2f} µs, p99 {in_process['p99_us']:.2f} µs per call.",
        ]
    )
    record("agent", results, table)


if __name__ == "__main__":
    main()
