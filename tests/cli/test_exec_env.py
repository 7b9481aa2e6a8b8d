"""Which variables ``tokenrack exec`` withholds: found from a loaded profile, names only."""

from __future__ import annotations

from tokenrack import Registry
from tokenrack.cli.exec_env import child_environment, secret_variables


def loaded(profile: dict[str, object], environ: dict[str, str]) -> dict[str, object]:
    base = {"provider": "generic", "token_url": "https://idp.example/token", "client_id": "c"}
    registry = Registry.from_dict(
        {"version": 1, "profiles": {"p": {**base, **profile}}}, environ=environ
    )
    return dict(registry.config.profile("p").options)


def test_env_references_and_template_variables_in_secret_positions() -> None:
    options = loaded(
        {
            "client_secret": "${PART_A}-$${NOT_A_VARIABLE}-${PART_B:-fallback}",
            "cache": {
                "backend": "file",
                "encryption_key": {"env": "CACHE_KEY"},
            },
            "scopes": ["${SCOPE}"],  # not a secret: its variable is passed on
        },
        {"SCOPE": "read"},
    )
    assert secret_variables(options, {}) == ["CACHE_KEY", "PART_A", "PART_B"]


def test_a_redis_url_password_is_recognised_by_its_value() -> None:
    environ = {"REDIS_PW": "p%40ss", "REDIS_URL": "redis://:p%40ss@127.0.0.1:6379/0", "X": "y"}
    options = loaded(
        {
            "client_secret": {"file": "/run/secret"},
            "cache": {"backend": "redis", "url": "${REDIS_URL}", "encryption_key": "k" * 40},
        },
        environ,
    )
    assert secret_variables(options, environ) == ["REDIS_PW", "REDIS_URL"]


def test_the_child_gets_the_token_and_the_rest() -> None:
    environ = {"SECRET": "s", "PATH": "/bin", "T": "old"}
    child = child_environment(environ, variable="T", access_token="tok", drop=["SECRET"])
    assert child == {"PATH": "/bin", "T": "tok"}


def test_variable_names_exec_accepts_and_refuses() -> None:
    from tokenrack.cli.exec_env import variable_problem

    for good in ("TOKENRACK_TOKEN", "API_TOKEN", "_t", "token2"):
        assert variable_problem(good) is None, good
    for bad in ("1BAD", "BAD-NAME", "A B", "", "TÖKEN", "X="):
        assert "is not a variable name" in str(variable_problem(bad)), bad
    for reserved in ("PATH", "path", "HOME", "LD_PRELOAD", "LC_ALL", "XDG_CONFIG_HOME", "IFS"):
        assert "is needed by the command or by tokenrack" in str(variable_problem(reserved))


def test_the_expiry_rides_along_in_whole_seconds() -> None:
    environment = child_environment(
        {"KEEP": "1"}, variable="T", access_token="tok", drop=(), expires_at=1800000000.9
    )
    assert environment == {"KEEP": "1", "T": "tok", "T_EXPIRES_AT": "1800000000"}
