"""Where the agent listens: ``unix:PATH`` and ``tcp://HOST:PORT``, opened safely.

A unix socket lives in a directory that is ours alone (``0700``, not a link), so no other
user can replace it or connect through a path they control; the socket itself is ``0600``
from the moment it exists (bound under a umask). TCP is loopback only unless the operator
says otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tokenrack.errors import ConfigError

__all__ = ["Listener", "default_socket_path", "open_listener", "parse_listener"]


@dataclass(frozen=True, slots=True)
class Listener:
    """One address to listen on.

    Attributes:
        unix: The socket path (unix listeners).
        host: The TCP host (TCP listeners).
        port: The TCP port (0: any free port).
    """

    unix: str | None = None
    host: str | None = None
    port: int = 0

    def describe(self, sock: socket.socket | None = None) -> str:
        """``unix:PATH`` or ``tcp://HOST:PORT``, with the port actually bound if known."""
        if self.unix is not None:
            return f"unix:{self.unix}"
        port = sock.getsockname()[1] if sock is not None else self.port
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"tcp://{host}:{port}"


def default_socket_path() -> str:
    """``$XDG_RUNTIME_DIR/tokenrack/agent.sock``.

    Raises:
        ConfigError: ``XDG_RUNTIME_DIR`` is not set (say ``--listen unix:PATH``).
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        raise ConfigError("XDG_RUNTIME_DIR is not set: give --listen unix:PATH or tcp://…")
    return str(Path(runtime) / "tokenrack" / "agent.sock")


def parse_listener(text: str, *, allow_non_loopback: bool = False) -> Listener:
    """Parse a ``--listen`` value.

    Raises:
        ConfigError: Not ``unix:PATH`` or ``tcp://HOST:PORT``, or a non-loopback host
            without ``allow_non_loopback``.
    """
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path.startswith("/"):
            raise ConfigError(f"--listen {text}: the socket path must be absolute")
        return Listener(unix=path)
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path:
        raise ConfigError(f"--listen {text}: expected unix:PATH or tcp://127.0.0.1:PORT")
    host = parts.hostname
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise ConfigError(f"--listen {text}: give an IP address, not a name") from None
    if not loopback and not allow_non_loopback:
        raise ConfigError(
            f"--listen {text}: not a loopback address; other hosts could ask for tokens "
            "(add --allow-non-loopback if that is what you want)"
        )
    return Listener(host=host, port=port)


def _private_directory(directory: Path, *, create: bool) -> None:
    if create:
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"cannot create {directory}: {error.strerror}") from None
    try:
        found = directory.lstat()
    except OSError as error:
        raise ConfigError(f"socket directory {directory}: {error.strerror}") from None
    if not stat.S_ISDIR(found.st_mode):
        raise ConfigError(f"socket directory {directory} is not a directory (or is a link)")
    if found.st_uid != os.geteuid():
        raise ConfigError(f"socket directory {directory} belongs to uid {found.st_uid}, not us")
    if found.st_mode & 0o022:
        raise ConfigError(
            f"socket directory {directory} is writable by others "
            f"(mode {stat.S_IMODE(found.st_mode):o}); chmod go-w it"
        )


def _clear_stale(path: Path) -> None:
    try:
        found = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(found.st_mode):
        raise ConfigError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # a socket no agent listens on any more
        return
    finally:
        probe.close()
    raise ConfigError(f"{path}: another agent is listening there")


def open_listener(listener: Listener, *, default: bool = False, mode: int = 0o600) -> socket.socket:
    """Bind and listen; the caller serves the socket.

    Args:
        listener: Where.
        default: The default socket path (its directory is created ``0700``).
        mode: The unix socket's permissions (``0600``; ``0660`` lets a group connect, and
            peer credentials still decide who gets which profile).

    Raises:
        ConfigError: The directory is not private, the path is taken, or binding fails.
    """
    if listener.unix is not None:
        path = Path(listener.unix)
        if default:
            _private_directory(path.parent.parent, create=False)
        _private_directory(path.parent, create=default)
        _clear_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)
        try:
            sock.bind(str(path))
        except OSError as error:
            sock.close()
            raise ConfigError(f"cannot listen on {path}: {error.strerror}") from None
        finally:
            os.umask(previous)
        os.chmod(path, mode)
    else:
        assert listener.host is not None
        family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((listener.host, listener.port))
        except OSError as error:
            sock.close()
            raise ConfigError(f"cannot listen on {listener.describe()}: {error.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock
