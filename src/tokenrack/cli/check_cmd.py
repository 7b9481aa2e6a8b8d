"""``tokenrack check``: read everything a fetch would need, and say what is unusable.

For each profile, what ``tokenrack token`` would read, read now: its plugins, every secret,
its key material (parsed by the auth method and the provider themselves, so a passphrase
or a key format they support is supported here), a client certificate and its key, and the
shared cache (its package, its secrets, its ``encryption_key``, and one read to see that it
answers). Every problem of every profile is listed; nothing is sent to the token endpoint
unless ``--fetch`` asks for a token. When the whole file is checked and it has an ``agent``
section (``tokenrack serve``), that section is validated too, as ``serve`` would.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokenrack.cli.common import load_registry
from tokenrack.cli.exit_codes import OK, describe, exit_code
from tokenrack.errors import TokenrackError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tokenrack.agent.settings import AgentSettings
    from tokenrack.core.registry import Registry
    from tokenrack.core.runtime import ProfileRuntime
    from tokenrack.secret.value import Secret

__all__ = ["ProfileReport", "check_agent", "check_profile", "run_check"]


@dataclass(slots=True)
class ProfileReport:
    """What ``check`` found for one profile.

    Attributes:
        name: The profile.
        checked: What was read and found usable, in order (``secrets ok``, …).
        problems: Each problem's message (it names the file, profile and key).
        code: The exit code of the first problem (0 when there is none).
    """

    name: str
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    code: int = OK

    def failed(self, error: BaseException, *, where: str = "") -> None:
        """Record ``error`` as one of the profile's problems (once), under ``where``."""
        text = str(error)
        if where and "profiles." not in text:
            text = f"{where}: {text}"
        if text not in self.problems:
            self.problems.append(text)
        self.code = self.code or exit_code(error)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _material(runtime: ProfileRuntime, report: ProfileReport) -> None:
    """Secrets, then the key material the provider and the auth method build requests from."""
    from tokenrack.auth.methods import ClientCredentials

    secrets = runtime.secrets()
    report.checked.append("secrets ok")
    endpoint = runtime.endpoint()
    for name in runtime.plan(endpoint):
        method = runtime.method(name)
        url = endpoint.token_url
        if method.requires_client_certificate:
            url = endpoint.mtls_token_url or url
            _client_certificate(runtime, secrets)
            report.checked.append("client certificate ok")
        # What a fetch does first: the provider's request (a signed grant parses its key),
        # then the method's client authentication (a signed assertion parses its key).
        request = runtime.first_request(url, secrets)
        if request.authenticate:
            client = ClientCredentials(
                profile=runtime.name,
                client_id=str(runtime.config.options.get("client_id", "")),
                client_secret=secrets.get("client_secret"),
                options=runtime.config.options,
                secrets={k: v for k, v in secrets.items() if k in method.secret_options},
            )
            method.authenticate(request, client)
        if method.name in ("private_key_jwt", "client_secret_jwt"):
            report.checked.append(f"{method.name} assertion ok")


def _client_certificate(runtime: ProfileRuntime, secrets: Mapping[str, Secret]) -> None:
    """Load the client certificate and key the way the TLS library will (passphrase too).

    Raises:
        ConfigError: They cannot be read, parsed or do not match; names the profile.
    """
    import ssl

    from tokenrack.auth.material import MaterialFiles
    from tokenrack.errors import ConfigError

    configured = runtime.options.secrets
    files = MaterialFiles()
    try:
        cert = files.path_for("client_cert", configured.get("client_cert"), secrets["client_cert"])
        key = files.path_for("client_key", configured.get("client_key"), secrets["client_key"])
        passphrase = secrets.get("client_key_passphrase")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_cert_chain(
                cert, key, password=passphrase.reveal() if passphrase is not None else None
            )
        except (OSError, ssl.SSLError) as error:
            # ssl's text names neither the file nor a secret; its reason is enough.
            why = getattr(error, "reason", None) or getattr(error, "strerror", None) or "unusable"
            raise ConfigError(
                f"the client certificate or its key cannot be used ({why}); check client_cert, "
                "client_key and client_key_passphrase",
                file=runtime.source,
                profile=runtime.name,
                path=f"profiles.{runtime.name}.client_cert",
            ) from None
    finally:
        files.close()


def _cache(registry: Registry, name: str, report: ProfileReport) -> None:
    """The profile's shared cache: built, answering, and able to seal records if asked to."""
    from tokenrack.cache.record import RecordError

    shared = registry.shared_cache(name)
    if shared is None:
        report.checked.append("cache memory (this process only)")
        return
    where = f"profiles.{name}.cache"
    before = len(report.problems)
    try:
        shared.record()
    except RecordError:
        pass  # an unreadable record is replaced at the next fetch: not a problem here
    except TokenrackError as error:
        report.failed(error, where=where)
    try:
        shared.check()  # the encryption_key too, even when the backend failed
    except TokenrackError as error:
        report.failed(error, where=where)
    if len(report.problems) == before:
        report.checked.append(f"cache ok ({shared.cache.describe()})")


def check_profile(registry: Registry, name: str, *, fetch: bool = False) -> ProfileReport:
    """Read everything ``name`` needs to fetch a token; fetch one too when ``fetch``.

    Never raises a tokenrack error: each one is a problem in the report. The material and
    the cache are checked independently, so a profile shows every problem it has.
    """
    report = ProfileReport(name)
    try:
        runtime = registry.runtime(name)
    except TokenrackError as error:
        report.failed(error, where=f"profiles.{name}")
        return report
    report.checked.append("config ok")
    try:
        _material(runtime, report)
    except TokenrackError as error:
        report.failed(error)
    _cache(registry, name, report)
    if fetch and not report.problems:
        started = time.monotonic()
        try:
            token = registry.get_token(name, force_refresh=True)
        except TokenrackError as error:
            report.failed(error)
        else:
            elapsed = (time.monotonic() - started) * 1000
            report.checked.append(
                f"token ok in {elapsed:.0f} ms (expires in {token.expires_in():.0f}s)"
            )
    return report


def check_agent(registry: Registry) -> ProfileReport | None:
    """The config file's ``agent`` section, validated as ``tokenrack serve`` would.

    Needs no aiohttp: :mod:`tokenrack.agent.settings` only validates. The file is read
    again (the registry keeps no document: it may hold inline secrets).

    Returns:
        None when the file has no ``agent`` section; else a report named ``agent`` whose
        problems carry the line and column of each path, like a profile's.
    """
    from tokenrack.agent.settings import parse_agent_settings
    from tokenrack.config.document import read_config_document
    from tokenrack.errors import ConfigError

    report = ProfileReport("agent")
    try:
        document = read_config_document(registry.source)
    except ConfigError as error:
        report.failed(error)  # the file changed since the registry read it
        return report
    data = document.data
    if not isinstance(data, dict) or "agent" not in data:
        return None
    section = [data["agent"]]
    del data  # the document may hold inline secrets: no frame keeps more than it needs
    try:
        settings = parse_agent_settings(
            section.pop(),
            source=registry.source,
            profiles=frozenset(registry.profiles()),
            marks=document.marks,
        )
    except ConfigError as error:
        report.failed(error)
        return report
    report.checked.append("agent section ok")
    _agent_secrets(registry, settings, report)
    return report


def _agent_secrets(registry: Registry, settings: AgentSettings, report: ProfileReport) -> None:
    """Read the agent's own secrets (``tcp_token``, ``azure.header_secret``) as serve will."""
    from tokenrack.agent.state import resolve_agent_secret
    from tokenrack.core.catalog import PluginCatalog

    wanted = [
        (key, value)
        for key, value in (
            ("tcp_token", settings.tcp_token),
            ("azure.header_secret", settings.azure_header_secret),
        )
        if value is not None
    ]
    if not wanted:
        return
    catalog = PluginCatalog()
    before = len(report.problems)
    for key, value in wanted:
        try:
            resolve_agent_secret(value, key, registry.config, catalog)
        except TokenrackError as error:
            report.failed(error)
    if len(report.problems) == before:
        report.checked.append("agent secrets ok")


def _plaintext_warning(registry: Registry, name: str) -> str | None:
    """A warning for a profile whose shared cache stores tokens unencrypted by its own choice."""
    from tokenrack.cache.settings import cache_settings

    config = registry.config.profile(name)
    if config.unusable is not None:
        return None
    option = config.options.get("cache", registry.default_cache)
    settings = cache_settings(option)
    if settings.encryption_key is not None or settings.options.get("plaintext") is not True:
        return None
    return (
        f"warning: {name}: its {settings.backend} cache says plaintext: true; anyone who can "
        "write that cache can plant tokens for it, and anyone who can read it can use them "
        "(set cache.encryption_key to seal them)"
    )


def _config_line(registry: Registry) -> str:
    """The first line: the file, and whether every profile in it could be assembled."""
    names = registry.profiles()
    unusable = [n for n in names if registry.config.profile(n).unusable is not None]
    if unusable:
        return (
            f"config {registry.source}: {len(unusable)} of {_plural(len(names), 'profile')} "
            f"unusable ({', '.join(unusable)})"
        )
    return f"config {registry.source}: ok ({_plural(len(names), 'profile')})"


def run_check(args: argparse.Namespace) -> int:
    """Check every profile (or those named); non-zero if anything a fetch needs is unusable.

    A profile whose shared cache is a ``plaintext: true`` one gets a warning on stderr.
    """
    from tokenrack.errors import ConfigError

    try:
        registry = load_registry(args)
    except ConfigError as error:
        # Every problem is listed; "`tokenrack check` validates the config" would be circular.
        print(describe(error, hint=False), file=sys.stderr)
        return exit_code(error)
    for name in args.profiles:
        registry.config.profile(name)  # an unknown name is a ProfileNotFoundError
    names = args.profiles or registry.profiles()
    print(_config_line(registry))
    worst = OK
    for name in names:
        warning = _plaintext_warning(registry, name)
        if warning is not None:
            print(warning, file=sys.stderr)
        report = check_profile(registry, name, fetch=args.fetch)
        for problem in report.problems:
            print(f"{name}: FAILED: {problem}")
        if not report.problems:
            print(f"{name}: {', '.join(report.checked)}")
        worst = worst or report.code
    agent = None if args.profiles else check_agent(registry)
    if agent is not None:
        for problem in agent.problems:
            print(f"agent: FAILED: {problem}")
        if not agent.problems:
            print(f"agent: {', '.join(agent.checked)}")
    if worst:
        print("some profiles failed; see above", file=sys.stderr)
    elif agent is not None and agent.problems:
        print("the agent section failed; see above", file=sys.stderr)
        worst = agent.code
    elif not args.fetch:
        print("secrets were read, not sent: `tokenrack check --fetch` asks the server for a token")
    return worst
