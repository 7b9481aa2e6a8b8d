"""Apigee-fronted token endpoints, and the response normaliser they need.

Sources (docs/providers/apigee.md): the endpoint is whatever the API proxy defines (the
classic sample reads ``grant_type`` from the query string); Apigee's default OAuthV2
policy answers ``token_type: "BearerToken"`` (sent as ``Bearer`` to the API), ``expires_in``
as a string and ``issued_at`` in epoch milliseconds, plus product fields kept in
``token.extra``; its errors are ``{"ErrorCode", "Error"}`` or a ``{"fault": …}`` object
rather than RFC 6749 §5.2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.plugin import (
    HttpResponse,
    Token,
    TokenRequest,
    TokenResponseError,
    decode_body,
    error_class_for,
    parse_token_response,
)
from tokenrack_providers._vendor import VendorProvider

__all__ = ["ApigeeProvider", "apigee_error"]


def apigee_error(body: Any) -> tuple[str, str | None] | None:
    """The ``(code, description)`` of an Apigee-shaped error body, or None.

    Understands the OAuthV2 policy's ``{"ErrorCode": …, "Error": …}`` and the fault
    envelope ``{"fault": {"faultstring": …, "detail": {"errorcode": …}}}``.
    """
    if not isinstance(body, Mapping):
        return None
    code = body.get("ErrorCode")
    if isinstance(code, str) and code:
        description = body.get("Error")
        return code, description if isinstance(description, str) else None
    fault = body.get("fault")
    if isinstance(fault, Mapping):
        detail = fault.get("detail")
        code = detail.get("errorcode") if isinstance(detail, Mapping) else None
        text = fault.get("faultstring")
        if isinstance(code, str) and code:
            return code, text if isinstance(text, str) else None
    return None


class ApigeeProvider(VendorProvider):
    """Client credentials through an Apigee API proxy.

    Profile keys: ``token_url`` (required: the proxy's endpoint), ``grant_type_in``:
    ``both`` (the default: in the form body, where the OAuthV2 policy reads it unless told
    otherwise, and in the query, where proxies built from the classic sample read it),
    ``body`` or ``query`` (only there).
    """

    name: ClassVar[str] = "apigee"
    default_auth_method: ClassVar[str] = "client_secret_basic"
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["token_url", "client_id"],
        "properties": {"grant_type_in": {"enum": ["both", "body", "query"]}},
    }

    def template_url(self) -> str:
        """Apigee has no template: the proxy defines the endpoint (``token_url``)."""
        return str(self.options["token_url"])

    def build_token_request(self) -> TokenRequest:
        """The request, with ``grant_type`` also (``both``) or only (``query``) in the query."""
        request = super().build_token_request()
        placement = self.options.get("grant_type_in", "both")
        if placement == "body":
            return request
        separator = "&" if "?" in request.url else "?"
        return dataclasses.replace(
            request.without_form("grant_type") if placement == "query" else request,
            url=f"{request.url}{separator}grant_type={self.grant_type}",
        )

    def parse_token_response(self, response: HttpResponse) -> Token:
        """Map Apigee errors to tokenrack's, and ``BearerToken`` to ``Bearer``.

        Raises:
            TokenRequestError: The proxy refused (an Apigee or RFC 6749 error).
            TokenResponseError: The answer is not a usable token.
        """
        try:
            body = decode_body(response)
        except TokenResponseError:
            body = None  # the core's parser says what is wrong with it
        refusal = apigee_error(body)
        if refusal is not None and response.status >= 400:
            code, description = refusal
            raise error_class_for(code)(
                status=response.status, error=code, error_description=description
            )
        token = parse_token_response(
            response, requested_scopes=self.scopes, default_ttl=self.default_ttl
        )
        if token.token_type.lower() == "bearertoken":
            token = dataclasses.replace(token, token_type="Bearer")
        return token
