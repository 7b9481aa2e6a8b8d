"""Vendor personalities for the token emulator, one module per vendor.

Each enforces its vendor's rules strictly, so a provider plugin tested against it meets
the same refusals the vendor gives. :data:`PERSONALITIES` maps each provider name of the
vendor pack to its personality class (the demo uses it to stand up the right endpoint).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tokenrack.testing.personalities.apigee import ApigeePersonality
from tokenrack.testing.personalities.auth0 import Auth0Personality
from tokenrack.testing.personalities.cognito import CognitoPersonality
from tokenrack.testing.personalities.entra import EntraPersonality
from tokenrack.testing.personalities.google import GooglePersonality
from tokenrack.testing.personalities.keycloak import KeycloakPersonality
from tokenrack.testing.personalities.okta import OktaPersonality
from tokenrack.testing.personalities.ping import PingPersonality
from tokenrack.testing.personalities.salesforce import SalesforcePersonality
from tokenrack.testing.personalities.zoom import ZoomPersonality
from tokenrack.testing.personality import Personality

__all__ = [
    "PERSONALITIES",
    "ApigeePersonality",
    "Auth0Personality",
    "CognitoPersonality",
    "EntraPersonality",
    "GooglePersonality",
    "KeycloakPersonality",
    "OktaPersonality",
    "PingPersonality",
    "SalesforcePersonality",
    "ZoomPersonality",
]

PERSONALITIES: Mapping[str, Callable[[], Personality]] = {
    "azure": EntraPersonality,
    "okta": OktaPersonality,
    "auth0": Auth0Personality,
    "keycloak": KeycloakPersonality,
    "cognito": CognitoPersonality,
    "salesforce": SalesforcePersonality,
    "zoom": ZoomPersonality,
    "ping": PingPersonality,
    "google": GooglePersonality,
    "apigee": ApigeePersonality,
}
"""A personality with default settings for each provider of the vendor pack."""
