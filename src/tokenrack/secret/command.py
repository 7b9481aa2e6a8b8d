"""Running a ``{command: …}`` secret's program within bounds.

- Output: at most :data:`MAX_OUTPUT` bytes of standard output are read; more is an error,
  and the rest is never read into memory.
- Time: :data:`COMMAND_TIMEOUT` seconds, or the reference's ``timeout``, and never more than
  the fetch's deadline (set by the core through :func:`command_time_limit`).
- Processes: the program runs in a session of its own; on a timeout or too much output
  its whole process group is killed, so a background child does not outlive it.
- Environment: only :data:`BASE_ENVIRONMENT` (and ``LC_*``, ``XDG_*``) plus the names the
  reference lists in ``env`` (``NAME``, or ``PREFIX_*`` for every variable so named).
- Errors: show at most :data:`STDERR_SHOWN` bytes of standard error, with the output and
  the values of the listed variables replaced by ``***``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenrack.errors import SecretError

# Defined with the source, which every config loads, so that this module (and subprocess)
# loads only when a command runs (issue 15); named here too, where they apply.
from tokenrack.secret.sources import (
    COMMAND_ARGUMENT_SCHEMA,
    COMMAND_TIMEOUT,
    command_time_left,
    command_time_limit,
)

if TYPE_CHECKING:
    import subprocess

__all__ = [
    "BASE_ENVIRONMENT",
    "COMMAND_ARGUMENT_SCHEMA",
    "COMMAND_TIMEOUT",
    "MAX_OUTPUT",
    "STDERR_SHOWN",
    "CommandSpec",
    "command_time_limit",
    "run_secret_command",
]

MAX_OUTPUT = 64 * 1024
"""The most standard output a secret command may print (64 KiB)."""

STDERR_SHOWN = 1024
"""The most standard error (bytes, scrubbed) shown in an error message."""

BASE_ENVIRONMENT = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR")
"""Variables every secret command gets (when set), with every ``LC_*`` and ``XDG_*``."""

_BASE_PREFIXES = ("LC_", "XDG_")


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A secret command as its reference gives it.

    Attributes:
        argv: The program and its arguments (no shell).
        env: Names of further variables to pass (``NAME`` or ``PREFIX_*``).
        timeout: Seconds it may run (before the deadline's bound).
    """

    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    timeout: float = COMMAND_TIMEOUT

    @classmethod
    def from_argument(cls, argument: Any) -> CommandSpec:
        """The spec of ``[argv…]`` or ``{run: [argv…], env: […], timeout: …}``."""
        if isinstance(argument, Mapping):
            return cls(
                argv=tuple(str(part) for part in argument["run"]),
                env=tuple(str(name) for name in argument.get("env") or ()),
                timeout=float(argument.get("timeout") or COMMAND_TIMEOUT),
            )
        return cls(argv=tuple(str(part) for part in argument))

    def time_allowed(self) -> float:
        """Its timeout, bounded by the deadline of the fetch it runs for."""
        limit = command_time_left()
        return self.timeout if limit is None else min(self.timeout, limit)


def _wanted(name: str, patterns: Sequence[str]) -> bool:
    return any(
        name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern
        for pattern in patterns
    )


def child_environment(
    spec: CommandSpec, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The command's environment, and the values it got through ``env`` (to scrub)."""
    env = {
        name: value
        for name, value in environ.items()
        if name in BASE_ENVIRONMENT or name.startswith(_BASE_PREFIXES)
    }
    listed = {name: value for name, value in environ.items() if _wanted(name, spec.env)}
    env.update(listed)
    return env, [value for value in listed.values() if len(value) >= 4]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        process.kill()
    process.wait()


def _scrubbed(stderr: bytes, secrets: Sequence[str]) -> str:
    text = stderr[: STDERR_SHOWN * 4].decode("utf-8", errors="replace")
    # Longest first, so a value containing another is replaced whole.
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    # One line of printable text: the excerpt goes into messages and logs.
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(text) > STDERR_SHOWN or len(stderr) > STDERR_SHOWN * 4:
        text = text[:STDERR_SHOWN] + " …"
    return text


def _read_bounded(process: subprocess.Popen[bytes], ends: float) -> tuple[bytes, bytes, str | None]:
    import selectors

    """Standard output and error; a reason when the output or the time ran out."""
    if process.stdout is None or process.stderr is None:  # pragma: no cover - both are pipes
        raise SecretError("secret command has no pipes")
    out, err = process.stdout.fileno(), process.stderr.fileno()
    stdout, stderr = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        for descriptor in (out, err):
            selector.register(descriptor, selectors.EVENT_READ)
        while selector.get_map():
            left = ends - time.monotonic()
            if left <= 0:
                return bytes(stdout), bytes(stderr), "time"
            for selected, _ in selector.select(left):
                chunk = os.read(selected.fd, 65536)
                if not chunk:
                    selector.unregister(selected.fd)
                elif selected.fd == out:
                    stdout += chunk
                    if len(stdout) > MAX_OUTPUT:
                        return bytes(stdout[:MAX_OUTPUT]), bytes(stderr), "output"
                elif len(stderr) < STDERR_SHOWN * 4:
                    # Kept only as far as an error message shows; the rest is drained.
                    stderr += chunk[: STDERR_SHOWN * 4 - len(stderr)]
    return bytes(stdout), bytes(stderr), None


def _strip_newline(value: str) -> str:
    return value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value


def run_secret_command(spec: CommandSpec, environ: Mapping[str, str] | None = None) -> str:
    """Run ``spec`` and return its standard output, less one trailing newline.

    Args:
        spec: The command.
        environ: Where its variables come from (``os.environ`` when omitted).

    Raises:
        SecretError: It was not found, failed, ran out of time, printed more than
            :data:`MAX_OUTPUT` bytes or nothing; never shows the output.
    """
    # Imported here: a process whose secrets run no command never loads them (issue 15).
    import subprocess

    program = spec.argv[0]
    env, listed = child_environment(spec, os.environ if environ is None else environ)
    seconds = spec.time_allowed()
    try:
        process = subprocess.Popen(  # noqa: S603 - argv list, no shell, by design
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as error:
        denied = isinstance(error, PermissionError)
        del env, listed  # the variables passed on may hold secrets: not in a traceback
        raise SecretError(
            f"secret command {program!r} " + ("is not executable" if denied else "was not found")
        ) from None
    ends = time.monotonic() + seconds
    with process:
        try:
            stdout, stderr, overrun = _read_bounded(process, ends)
            if overrun is None:
                try:
                    process.wait(timeout=max(ends - time.monotonic(), 0.001))
                except subprocess.TimeoutExpired:
                    overrun = "time"
        except BaseException:
            _kill_group(process)  # interrupted: leave nothing running behind
            raise
        if overrun is not None:
            _kill_group(process)
    output = stdout.decode("utf-8", errors="replace")
    pieces = [output, output.strip(), *(line.strip() for line in output.splitlines())]
    secrets = [piece for piece in pieces if len(piece) >= 4 or piece == output.strip()]
    secrets = [piece for piece in [*secrets, *listed] if piece]
    shown = _scrubbed(stderr, secrets)
    said = f"; stderr: {shown}" if shown else ""
    value = _strip_newline(output)
    problem = None
    if overrun == "output":
        problem = (
            f"secret command {program!r} printed more than {MAX_OUTPUT // 1024} KiB; "
            f"it was stopped{said}"
        )
    elif overrun == "time":
        problem = (
            f"secret command {program!r} did not finish within {seconds:g}s; "
            f"its process group was killed{said}"
        )
    elif process.returncode != 0:
        problem = f"secret command {program!r} exited with status {process.returncode}{said}"
    elif not value:
        problem = f"secret command {program!r} printed nothing{said}"
    if problem is not None:
        # Its output may be the secret: no frame on the error's traceback may hold it
        # (error trackers record every local; issue 10, F4).
        del stdout, stderr, output, pieces, secrets, listed, env, value
        raise SecretError(problem)
    return value
