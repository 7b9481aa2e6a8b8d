"""The built-in secret sources: ``env``, ``file`` and ``command``.

A secret source is registered in the ``tokenrack.secrets`` entry-point group; in a profile,
``client_secret: {env: BILLING_SECRET}`` asks the ``env`` source for ``BILLING_SECRET``.
Sources raise :class:`~tokenrack.errors.SecretError` with a message that says what is
missing and never contains the secret; the core adds the file, profile and path.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from tokenrack.errors import SecretError

__all__ = ["CommandSecretSource", "EnvSecretSource", "FileSecretSource", "SecretSource"]

_COMMAND_TIMEOUT = 30.0


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
        """Read the variable; a missing or empty one is an error."""
        value = os.environ.get(str(argument))
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise SecretError(f"environment variable {argument} {state}")
        return value


class FileSecretSource:
    """``{file: PATH}``: the file's contents, less one trailing newline (``~`` expanded)."""

    name: ClassVar[str] = "file"
    argument_schema: ClassVar[Mapping[str, Any]] = {"type": "string", "minLength": 1}

    def resolve(self, argument: Any) -> str:
        """Read the file; unreadable or empty is an error."""
        path = os.path.expanduser(str(argument))
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
    """``{command: [argv…]}``: the standard output of a program, run without a shell."""

    name: ClassVar[str] = "command"
    argument_schema: ClassVar[Mapping[str, Any]] = {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
    }

    def resolve(self, argument: Any) -> str:
        """Run the program; a failure, a timeout or empty output is an error.

        The program's standard error is never shown: it may echo what it printed.
        """
        argv = [str(part) for part in argument]
        try:
            done = subprocess.run(  # noqa: S603 - argv list, no shell, by design
                argv,
                capture_output=True,
                timeout=_COMMAND_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise SecretError(f"secret command {argv[0]!r} was not found") from None
        except PermissionError:
            raise SecretError(f"secret command {argv[0]!r} is not executable") from None
        except subprocess.TimeoutExpired:
            raise SecretError(
                f"secret command {argv[0]!r} did not finish within {_COMMAND_TIMEOUT:.0f}s"
            ) from None
        if done.returncode != 0:
            status, noise = done.returncode, len(done.stderr)
            del done  # its output may be the secret: no traceback's frame may hold it
            raise SecretError(
                f"secret command {argv[0]!r} exited with status {status} "
                f"({noise} bytes on stderr, not shown)"
            )
        value = _strip_newline(done.stdout.decode("utf-8", errors="replace"))
        if not value:
            raise SecretError(f"secret command {argv[0]!r} printed nothing")
        return value
