"""The built-in secret sources: ``env``, ``file`` and ``command``.

A secret source is registered in the ``tokenrack.secrets`` entry-point group; in a profile,
``client_secret: {env: BILLING_SECRET}`` asks the ``env`` source for ``BILLING_SECRET``.
Sources raise :class:`~tokenrack.errors.SecretError` with a message that says what is
missing and never contains the secret; the core adds the file, profile and path.

The ``command`` source's argument schema, its default timeout and the fetch's time limit
live here; :mod:`tokenrack.secret.command`, which runs the program, loads at the first run.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from tokenrack.errors import SecretError
from tokenrack.util.file_mode import warn_if_exposed

__all__ = [
    "COMMAND_TIMEOUT",
    "CommandSecretSource",
    "EnvSecretSource",
    "FileSecretSource",
    "SecretContext",
    "SecretSource",
    "anchored_path",
    "command_time_left",
    "command_time_limit",
]

COMMAND_TIMEOUT = 30.0
"""Seconds a secret command may run unless its reference says otherwise."""

_NAME = {
    "type": "string",
    "pattern": "^[A-Za-z_][A-Za-z0-9_]*\\*?$",
    "description": "a variable name, or a prefix ending in * (VAULT_*)",
}
_ARGV = {"type": "array", "items": {"type": "string"}, "minItems": 1}

COMMAND_ARGUMENT_SCHEMA: Mapping[str, Any] = {
    "oneOf": [
        _ARGV,
        {
            "type": "object",
            "properties": {
                "run": _ARGV,
                "env": {"type": "array", "items": _NAME},
                "timeout": {"type": "number", "exclusiveMinimum": 0},
            },
            "required": ["run"],
            "additionalProperties": False,
        },
    ]
}
"""``[argv…]``, or ``{run: [argv…], env: [NAME, PREFIX_*…], timeout: seconds}``."""

_time_limit: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "tokenrack_command_time_limit", default=None
)


@contextlib.contextmanager
def command_time_limit(seconds: float | None) -> Iterator[None]:
    """Within this block, no secret command runs longer than ``seconds`` (the deadline)."""
    token = _time_limit.set(seconds)
    try:
        yield
    finally:
        _time_limit.reset(token)


def command_time_left() -> float | None:
    """The bound :func:`command_time_limit` set here, or None outside any such block."""
    return _time_limit.get()


@dataclass(frozen=True, slots=True)
class SecretContext:
    """Where a secret reference was written, for the built-in sources that care.

    Attributes:
        environ: The environment ``{env: NAME}`` reads: the ``environ=`` given to
            ``Registry.from_file``/``from_dict``; None: ``os.environ``.
        directory: The directory a relative ``{file: PATH}`` is resolved against: the
            config file's; None: the current directory (``Registry.from_dict``).
        location: The key that holds the reference (``profiles.billing.client_secret``),
            for warnings.
    """

    environ: Mapping[str, str] | None = field(default=None, repr=False)
    directory: str | None = None
    location: str = ""


def anchored_path(path: str, directory: str | None) -> str:
    """``path`` with ``~`` expanded, and made absolute against ``directory`` if relative.

    With no ``directory``, a relative path stays relative (to the current directory).
    """
    expanded = os.path.expanduser(path)
    if directory is None or os.path.isabs(expanded):
        return expanded
    return os.path.join(directory, expanded)


class SecretSource(Protocol):
    """Where secrets can be read from (exported to plugin authors by :mod:`tokenrack.plugin`).

    Attributes:
        name: The key used in a secret reference, equal to the entry-point name.
        argument_schema: JSON Schema of the value that follows the key.
    """

    name: ClassVar[str]
    argument_schema: ClassVar[Mapping[str, Any]]

    def resolve(self, argument: Any) -> str:
        """Return the secret named by ``argument``.

        Raises:
            SecretError: The secret cannot be read (the message never shows it).
        """
        ...


def _strip_newline(value: str) -> str:
    # Files and commands end with a newline that is not part of the secret.
    return value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value


class EnvSecretSource:
    """``{env: NAME}``: the environment variable ``NAME``."""

    name: ClassVar[str] = "env"
    argument_schema: ClassVar[Mapping[str, Any]] = {"type": "string", "minLength": 1}

    def resolve(self, argument: Any) -> str:
        """Read the variable from ``os.environ``; a missing or empty one is an error."""
        return self.resolve_in(argument, SecretContext())

    def resolve_in(self, argument: Any, context: SecretContext) -> str:
        """Read the variable from the registry's environment (``environ=``, else ``os.environ``).

        Raises:
            SecretError: The variable is not set, or is empty.
        """
        environ = os.environ if context.environ is None else context.environ
        value = environ.get(str(argument))
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise SecretError(f"environment variable {argument} {state}")
        return value


class FileSecretSource:
    """``{file: PATH}``: the file's contents, less one trailing newline (``~`` expanded).

    A relative path is resolved against the directory of the config file that holds it.
    """

    name: ClassVar[str] = "file"
    argument_schema: ClassVar[Mapping[str, Any]] = {"type": "string", "minLength": 1}

    def resolve(self, argument: Any) -> str:
        """Read the file (a relative path: from the current directory)."""
        return self.resolve_in(argument, SecretContext())

    def resolve_in(self, argument: Any, context: SecretContext) -> str:
        """Read the file (relative: from ``context.directory``); unreadable or empty is an error.

        A file its group or others can write or read is used, with a warning (once per
        file) naming the file and the key that refers to it, never its content.

        Raises:
            SecretError: The file cannot be read, is not UTF-8, or is empty.
        """
        path = anchored_path(str(argument), context.directory)
        warn_if_exposed(path, what="secret", used_by=context.location)
        try:
            with open(path, encoding="utf-8") as handle:
                value = _strip_newline(handle.read())
        except OSError as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SecretError(f"secret file {path} is not UTF-8 text") from None
        if not value:
            raise SecretError(f"secret file {path} is empty")
        return value


class CommandSecretSource:
    """``{command: [argv…]}``: the standard output of a program, run without a shell.

    The long form ``{command: {run: [argv…], env: [NAME, PREFIX_*…], timeout: seconds}}``
    passes more environment variables and sets the timeout. See
    :mod:`tokenrack.secret.command` for the bounds: 64 KiB of output, the timeout (within
    the fetch's deadline), the process group killed when either is exceeded, a minimal
    environment, and a short scrubbed excerpt of standard error in errors.
    """

    name: ClassVar[str] = "command"
    argument_schema: ClassVar[Mapping[str, Any]] = COMMAND_ARGUMENT_SCHEMA

    def resolve(self, argument: Any) -> str:
        """Run the program; a failure, a timeout, too much or empty output is an error."""
        from tokenrack.secret.command import CommandSpec, run_secret_command

        return run_secret_command(CommandSpec.from_argument(argument))
