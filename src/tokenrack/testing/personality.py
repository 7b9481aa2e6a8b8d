"""How a :class:`~tokenrack.testing.emulator.TokenEmulator` speaks: the extension point.

A :class:`Personality` decides, for one vendor, where the token endpoint lives, how a
client must authenticate, which requests are refused, and what success and error answers
look like. The base class is plain RFC 6749 as the emulator checks it; a vendor's
personality (the vendor pack's live in ``tokenrack_providers.testing``, found by name
through the ``tokenrack.personalities`` entry points) overrides the steps it needs::

    class AcmePersonality(Personality):
        name = "acme"
        auth_methods = frozenset({"client_secret_basic"})     # body credentials refused

        def serves(self, emulator, path):
            return path == "/oauth2/token"

        def check(self, emulator, exchange, client, method, params):
            if not exchange.param("tenant", params):
                return self.refusal(400, "invalid_request", "tenant is required")
            return None

Each step is small and pure except :meth:`Personality.grant`, which issues the token
through the emulator (so it is recorded among ``issued_tokens``). A personality reaches the
emulator only through its public hooks (``authenticate_client``, ``find_client``,
``first_use``, ``grant``, ``issue_token``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tokenrack.testing.values import (
    Answer,
    EmulatorClient,
    PeerCertificate,
    Verdict,
    error_answer,
)

if TYPE_CHECKING:
    from tokenrack.testing.emulator import TokenEmulator

__all__ = ["Answer", "Exchange", "Personality", "Verdict"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request to the token endpoint as the emulator received it.

    Attributes:
        path: The path, without the query.
        query: Query-string parameters, in order.
        headers: Headers, names lower-cased.
        form: Body parameters, in order (form-encoded or JSON).
        peer: The TLS client certificate presented, if any (mutual TLS).
    """

    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    form: tuple[tuple[str, str], ...]
    peer: PeerCertificate | None = None

    @property
    def media_type(self) -> str:
        """The request's content type without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @staticmethod
    def param(name: str, params: Sequence[tuple[str, str]]) -> str | None:
        """The first value of ``name`` in ``params``, or None."""
        return next((value for key, value in params if key == name), None)


class Personality:
    """Plain RFC 6749 §4.4, as :class:`TokenEmulator` checks it; subclass for a vendor.

    Attributes:
        name: A short name for messages and the demo.
        auth_methods: Client authentication methods the vendor accepts at all; a client
            that uses another is refused with :meth:`wrong_auth_method`.
        query_parameters: Read token parameters from the query string as well as the body
            (some vendors document them there).
    """

    name: ClassVar[str] = "rfc6749"
    auth_methods: ClassVar[frozenset[str]] = frozenset(
        {
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth",
            "none",
        }
    )
    query_parameters: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- where ---------------------------------------------------------------------------

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """Whether ``path`` is this vendor's token endpoint (default: ``token_path``)."""
        return path == emulator.token_path

    def token_path(self, emulator: TokenEmulator) -> str:
        """A path :meth:`serves` answers at, for ``emulator.token_url`` and messages.

        The default is the emulator's ``token_path``; a vendor whose path holds a
        variable (a tenant, a realm) names an example of it.
        """
        return emulator.token_path

    def not_found(self, emulator: TokenEmulator, exchange: Exchange) -> Answer:
        """The answer to a POST anywhere else."""
        return Answer(404, {"error": "not_found"})

    # -- who -----------------------------------------------------------------------------

    def parameters(self, exchange: Exchange) -> list[tuple[str, str]]:
        """The token request's parameters: the body's, then the query's if accepted."""
        params = list(exchange.form)
        if self.query_parameters:
            params.extend(exchange.query)
        return params

    def authenticate(self, emulator: TokenEmulator, exchange: Exchange) -> Verdict:
        """Check the client's credentials (RFC 6749 §2.3.1), as the emulator does."""
        client, method, failure = emulator.authenticate_client(
            exchange.headers, self.parameters(exchange), exchange.peer
        )
        if failure is None and method not in self.auth_methods:
            return None, method, self.wrong_auth_method(method)
        return client, method, failure

    def wrong_auth_method(self, method: str | None) -> Answer:
        """The refusal of a client that authenticated in a way this vendor does not accept."""
        accepted = ", ".join(sorted(self.auth_methods))
        return error_answer(
            401, "invalid_client", f"{method} is not accepted here (only {accepted})"
        )

    # -- what ----------------------------------------------------------------------------

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """The vendor's own rules for an authenticated request: a refusal, or None."""
        return None

    def grant(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        """The emulator's RFC 6749 answer for ``client``: grant type, scopes, audience, token."""
        return emulator.grant(client, params)

    def answer(self, emulator: TokenEmulator, exchange: Exchange, verdict: Verdict) -> Answer:
        """Check, grant, then shape the answer in the vendor's form.

        Args:
            emulator: The emulator.
            exchange: The request.
            verdict: What :meth:`authenticate` decided for it (authentication runs once).
        """
        params = self.parameters(exchange)
        client, method, failure = verdict
        if failure is None and client is not None:
            failure = self.check(emulator, exchange, client, method, params)
        if failure is not None or client is None:
            return self.error(
                emulator, exchange, failure or self.refusal(401, "invalid_client", "")
            )
        answer = self.grant(emulator, exchange, client, params)
        if answer.status >= 400:
            return self.error(emulator, exchange, answer)
        return Answer(
            answer.status, self.success(emulator, exchange, dict(answer.body)), answer.headers
        )

    # -- how it looks --------------------------------------------------------------------

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The success body in the vendor's form (default: RFC 6749 §5.1 as issued)."""
        return body

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        """An error answer in the vendor's form (default: RFC 6749 §5.2 as built)."""
        return answer

    @staticmethod
    def refusal(status: int, error: str, description: str, **headers: str) -> Answer:
        """An RFC 6749 §5.2 error answer, for :meth:`check` to return."""
        return error_answer(status, error, description, **headers)

    # -- the command line ----------------------------------------------------------------

    def prepare(self, emulator: TokenEmulator, directory: Path) -> list[str] | None:
        """Set up what ``tokenrack emulator`` needs beyond its client id and secret.

        Called once the emulator runs. A personality whose clients authenticate with
        something else (a key file, a certificate) registers that client here, writes
        its files into ``directory`` (private, deleted when the emulator stops) and
        returns the lines that tell a person what is accepted. The default needs
        nothing and returns None: the command then prints the client id and secret.

        Args:
            emulator: The running emulator.
            directory: A private temporary directory for key files.

        Raises:
            ImportError: A package the set-up needs is missing; the message says which
                to install (the command shows it as a usage error).
        """
        return None

    def accepts(self, emulator: TokenEmulator) -> list[str]:
        """What else a request must carry, as lines for ``tokenrack emulator``'s banner.

        Printed after the client's lines (those of :meth:`prepare`, or the client id and
        secret), indented two spaces like them: the values a vendor requires that a person
        must put in the profile (an account id, an audience). The default: none.
        """
        return []
