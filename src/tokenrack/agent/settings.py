"""The config's ``agent`` section: which profiles are served, to whom, and by which protocols."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenrack.config.marks import Marks
from tokenrack.config.validate import validate
from tokenrack.errors import ConfigError, ConfigProblem, without_frames
from tokenrack.secret.value import Secret, SecretRef, SecretValue

__all__ = ["AGENT_SCHEMA", "AgentSettings", "ProfileAccess", "parse_agent_settings"]

_SECRET: dict[str, Any] = {
    "description": "a secret: a literal string or a {source: argument} reference",
    "anyOf": [
        {"type": "string", "minLength": 1},
        {"type": "object", "minProperties": 1, "maxProperties": 1},
    ],
}
_IDS: dict[str, Any] = {"type": "array", "items": {"type": "integer", "minimum": 0}}
_PROFILE_NAME: dict[str, Any] = {"type": "string", "minLength": 1}

AGENT_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "description": "tokenrack serve: the profiles it exposes and to whom (docs/agent.md)",
    "required": ["profiles"],
    "properties": {
        "profiles": {
            "type": "object",
            "description": "the profiles served; any other profile of the file is not",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "uids": {**_IDS, "description": "unix-socket callers allowed, by uid"},
                    "gids": {**_IDS, "description": "unix-socket callers allowed, by gid"},
                    "tcp": {"type": "boolean", "description": "served over TCP (default no)"},
                },
                "additionalProperties": False,
            },
        },
        "tcp_token": {**_SECRET, "description": "the bearer TCP callers present"},
        "azure": {
            "type": "object",
            "description": "Azure managed identity (App Service protocol) at /msi/token",
            "required": ["header_secret", "resources"],
            "properties": {
                "header_secret": {**_SECRET, "description": "the X-IDENTITY-HEADER value"},
                "resources": {
                    "type": "object",
                    "description": "resource URI to profile",
                    "additionalProperties": _PROFILE_NAME,
                },
                "client_id": {"type": "string", "description": "the client_id answered"},
            },
            "additionalProperties": False,
        },
        "google": {
            "type": "object",
            "description": "Google Compute Engine metadata at /computeMetadata/v1/",
            "properties": {
                "scopes": {
                    "type": "object",
                    "description": "OAuth scope to profile",
                    "additionalProperties": _PROFILE_NAME,
                },
                "default": {**_PROFILE_NAME, "description": "the profile when no scope is asked"},
                "email": {"type": "string", "description": "the service account e-mail answered"},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
"""The JSON Schema (draft 2020-12) of the ``agent`` section."""


@dataclass(frozen=True, slots=True)
class ProfileAccess:
    """Who may ask the agent for one profile's token.

    Attributes:
        uids: Unix-socket callers allowed by their user id.
        gids: Unix-socket callers allowed by their (primary) group id.
        tcp: Whether TCP callers that authenticate may have it.
    """

    uids: frozenset[int] = frozenset()
    gids: frozenset[int] = frozenset()
    tcp: bool = False


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """The ``agent`` section, validated.

    Attributes:
        profiles: The profiles served, and who may have each.
        tcp_token: The bearer TCP callers present (None: the native API refuses TCP).
        azure_header_secret: The ``X-IDENTITY-HEADER`` value (None: no Azure endpoint).
        azure_resources: Resource URI to profile.
        azure_client_id: The ``client_id`` the Azure endpoint answers with.
        google_scopes: OAuth scope to profile (the metadata endpoint is on when any or
            ``google_default`` is set).
        google_default: The profile served when no scope is asked.
        google_email: The service account e-mail the metadata endpoint reports.
    """

    profiles: Mapping[str, ProfileAccess]
    tcp_token: SecretValue | None = None
    azure_header_secret: SecretValue | None = None
    azure_resources: Mapping[str, str] = field(default_factory=dict)
    azure_client_id: str = "tokenrack-agent"
    google_scopes: Mapping[str, str] = field(default_factory=dict)
    google_default: str | None = None
    google_email: str = "tokenrack-agent@localhost"

    @property
    def google(self) -> bool:
        """Whether the Google metadata endpoint is served."""
        return bool(self.google_scopes) or self.google_default is not None


def _secret(value: Any) -> SecretValue:
    if isinstance(value, str):
        return Secret(value)
    ((source, argument),) = value.items()
    return SecretRef(str(source), argument)


def parse_agent_settings(
    section: Any,
    *,
    source: str,
    profiles: frozenset[str] | set[str],
    marks: Marks | None = None,
) -> AgentSettings:
    """Validate the ``agent`` section of a config document and build its settings.

    Args:
        section: The section as parsed (None when the file has none).
        source: The config file, for messages.
        profiles: The profiles the file defines: every name the section uses must be one.
        marks: Where each value of the file was written: problems then name their line
            and column, like a profile's.

    Raises:
        ConfigError: The section is missing or invalid; each problem names its path.
    """
    held = [section]
    del section  # the section may hold a literal secret: no frame of the error keeps it
    try:
        return _parse(held.pop(), source=source, profiles=profiles)
    except ConfigError as error:
        if marks is not None:
            error = ConfigError(problems=marks.locate(error.problems), file=error.file)
        failure = without_frames(error)
    raise failure


def _parse(section: Any, *, source: str, profiles: frozenset[str] | set[str]) -> AgentSettings:
    if section is None:
        raise ConfigError(
            "no `agent` section: list the profiles the agent serves (docs/agent.md)", file=source
        )
    secret_keys = {"tcp_token", "header_secret"}
    problems = validate(
        section, AGENT_SCHEMA, base="agent", hide=lambda parts: bool(secret_keys & set(parts))
    )
    if problems:
        raise ConfigError(problems=problems, file=source)
    exposed = dict(section["profiles"])
    azure = section.get("azure")
    google = section.get("google")
    used: list[tuple[str, str]] = [(f"agent.profiles.{name}", name) for name in exposed]
    for resource, name in (azure or {}).get("resources", {}).items():
        used.append((f"agent.azure.resources.{resource}", name))
    for scope, name in (google or {}).get("scopes", {}).items():
        used.append((f"agent.google.scopes.{scope}", name))
    if google and "default" in google:
        used.append(("agent.google.default", google["default"]))
    missing = [
        ConfigProblem(path, f"{name!r} is not a profile of this file")
        for path, name in used
        if name not in profiles
    ]
    missing += [
        ConfigProblem(path, f"{name!r} is not listed under agent.profiles")
        for path, name in used[len(exposed) :]
        if name in profiles and name not in exposed
    ]
    if missing:
        raise ConfigError(problems=missing, file=source)
    return AgentSettings(
        profiles={
            name: ProfileAccess(
                uids=frozenset(rule.get("uids", ())),
                gids=frozenset(rule.get("gids", ())),
                tcp=bool(rule.get("tcp", False)),
            )
            for name, rule in exposed.items()
        },
        tcp_token=_secret(section["tcp_token"]) if "tcp_token" in section else None,
        azure_header_secret=_secret(azure["header_secret"]) if azure else None,
        azure_resources=dict(azure["resources"]) if azure else {},
        azure_client_id=str((azure or {}).get("client_id", "tokenrack-agent")),
        google_scopes=dict((google or {}).get("scopes", {})),
        google_default=(google or {}).get("default"),
        google_email=str((google or {}).get("email", "tokenrack-agent@localhost")),
    )
