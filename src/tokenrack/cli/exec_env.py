"""The environment ``tokenrack exec`` gives its command: the token, not the secrets behind it.

``exec`` hands a command a token. The variables the profile's credentials were read from
stay with tokenrack: every ``{env: NAME}`` in a secret position (``client_secret``,
``private_key``, any secret option, and ``cache``'s ``encryption_key``, ``password``, …),
every ``${NAME}`` in an inline secret (a template read at the fetch), and any variable that
holds a Redis URL's password or the whole URL (``url: redis://:${PW}@host``). Everything
else is passed on, and ``--keep-env`` passes everything.

Standard library only, and little of it: the warm path builds the child's environment from
names the full path recorded (:func:`secret_variables`) in the CLI snapshot.
"""

from __future__ import annotations

__all__ = [
    "RESERVED_PREFIXES",
    "RESERVED_VARIABLES",
    "child_environment",
    "secret_variables",
    "variable_problem",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any


RESERVED_VARIABLES = frozenset(
    {
        # What a process, a shell or the C library relies on: replacing it with a token
        # breaks the command (PATH lookup, $HOME, the locale, the shell's startup file…).
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TERM", "TMPDIR",
        "TZ", "LANG", "LANGUAGE", "IFS", "ENV", "BASH_ENV", "CDPATH", "PS1", "PS2", "PS4",
        "SHLVL", "MAIL", "DISPLAY", "PYTHONPATH", "PYTHONHOME",
        # tokenrack's own settings: a tokenrack run by the command would read the token.
        "TOKENRACK_CONFIG", "TOKENRACK_PROFILE", "TOKENRACK_CLI_CACHE", "TOKENRACK_DEBUG",
    }
)  # fmt: skip
"""Names ``exec --env`` refuses, besides the prefixes in :data:`RESERVED_PREFIXES`."""

RESERVED_PREFIXES = ("LC_", "LD_", "DYLD_", "XDG_")
"""Prefixes ``exec --env`` refuses: the locale, the dynamic loader, the XDG directories."""


def variable_problem(name: str) -> str | None:
    """Why ``name`` cannot hold the token for ``exec``, or None when it can.

    A name must be a POSIX variable name (letters, digits and ``_``, not starting with a
    digit), and not one the command or tokenrack itself relies on
    (:data:`RESERVED_VARIABLES`, :data:`RESERVED_PREFIXES`, in any case). Its
    ``<NAME>_EXPIRES_AT`` companion is then never one of those either.
    """
    shape_ok = name.isascii() and all(c.isalnum() or c == "_" for c in name)
    if not name or not shape_ok or name[0].isdigit():
        return f"{name!r} is not a variable name (letters, digits and _, not starting with a digit)"
    upper = name.upper()  # zsh ties `path` to PATH; refuse every spelling
    if upper in RESERVED_VARIABLES or upper.startswith(RESERVED_PREFIXES):
        return (
            f"{name} is needed by the command or by tokenrack and would be replaced; "
            "choose another name, e.g. API_TOKEN"
        )
    return None


def _template_names(text: str) -> set[str]:
    """The variables a ``${NAME}`` template reads (``$$`` is a literal dollar)."""
    import re  # here, not at the top: the warm path never needs it

    reference = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)")
    return {match.group(1) for match in reference.finditer(text) if match.group(1)}


def _password_holders(password: str, environ: Mapping[str, str]) -> set[str]:
    """Variables whose value is ``password`` (as is or percent-encoded), or a URL holding it.

    A Redis URL's password is taken out of the URL at load (it becomes the cache's
    ``password`` secret), and which variable the URL came from is gone by then; the value
    is what gives it away.
    """
    from urllib.parse import quote, unquote, urlsplit

    forms = {password, quote(password, safe=""), unquote(password)}
    names: set[str] = set()
    for name, value in environ.items():
        if value in forms:
            names.add(name)
        elif "://" in value and "@" in value:
            try:
                embedded = urlsplit(value).password
            except ValueError:
                continue
            if embedded is not None and (embedded in forms or unquote(embedded) in forms):
                names.add(name)
    return names


def secret_variables(options: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """The variables a profile's secrets are read from, sorted.

    Args:
        options: The loaded profile's options (``ProfileConfig.options``): secret keys, and
            the secret keys inside ``cache``, hold ``Secret`` or ``SecretRef`` values.
        environ: The environment, to recognise a Redis URL's password by its value.
    """
    from collections.abc import Mapping

    from tokenrack.secret.value import Secret, SecretRef

    cache = options.get("cache")
    cache = cache if isinstance(cache, Mapping) else {}
    values = [*options.values(), *cache.values()]
    names: set[str] = set()
    for value in values:
        if isinstance(value, SecretRef) and value.source == "env":
            names.add(str(value.argument))
        elif isinstance(value, SecretRef) and value.source == "template":
            names |= _template_names(str(value.argument))
    password = cache.get("password")
    if isinstance(password, Secret) and password.reveal():
        names |= _password_holders(password.reveal(), environ)
    return sorted(names)


def child_environment(
    environ: Mapping[str, str],
    *,
    variable: str,
    access_token: str,
    drop: Iterable[str],
    expires_at: float | None = None,
) -> dict[str, str]:
    """``environ`` without the variables in ``drop``, the token in ``variable``.

    With ``expires_at``, ``<variable>_EXPIRES_AT`` holds it too, in whole epoch seconds
    (for shell arithmetic against ``date +%s``).
    """
    withheld = set(drop)
    kept = {name: value for name, value in environ.items() if name not in withheld}
    kept[variable] = access_token
    if expires_at is not None:
        kept[f"{variable}_EXPIRES_AT"] = str(int(expires_at))
    return kept
