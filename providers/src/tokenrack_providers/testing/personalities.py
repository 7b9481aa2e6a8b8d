"""Every vendor personality of the pack, by the name of the provider it mirrors.

:data:`PERSONALITIES` maps each provider name of the vendor pack to its personality class
(the demo uses it to stand up the right endpoint); the pack's ``tokenrack.personalities``
entry points register the same names (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tokenrack.testing.personality import Personality
from tokenrack_providers.testing.apigee import ApigeePersonality
from tokenrack_providers.testing.auth0 import Auth0Personality
from tokenrack_providers.testing.cognito import CognitoPersonality
from tokenrack_providers.testing.entra import EntraPersonality
from tokenrack_providers.testing.google import GooglePersonality
from tokenrack_providers.testing.keycloak import KeycloakPersonality
from tokenrack_providers.testing.okta import OktaPersonality
from tokenrack_providers.testing.ping import PingPersonality
from tokenrack_providers.testing.salesforce import SalesforcePersonality
from tokenrack_providers.testing.zoom import ZoomPersonality

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
