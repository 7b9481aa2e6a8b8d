"""The core's ``template`` secret source: an inline secret with ``${VAR}`` in it.

``client_secret: ${BILLING_SECRET}`` is loaded as ``SecretRef("template", "${BILLING_SECRET}")``
rather than interpolated at load, so the value never sits in the loaded config and is read
again after a refusal (the variable may have been rotated). It is interpolated from the
same environment mapping as the rest of the file (``Registry.from_file(environ=...)``).
It is not an entry point: a profile cannot name it; the loader creates the references.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.config.interpolate import InterpolationError, interpolate
from tokenrack.errors import SecretError

__all__ = ["TEMPLATE", "TemplateSecretSource"]

TEMPLATE = "template"
"""The source name of inline secrets with ``${VAR}`` references."""


class TemplateSecretSource:
    """Interpolates ``${VAR}``, ``${VAR:-default}`` and ``$$`` from an environment mapping.

    Args:
        environ: Where variables are read, at each :meth:`resolve` (so a rotated value is
            seen after a refusal).
    """

    name: ClassVar[str] = TEMPLATE
    argument_schema: ClassVar[Mapping[str, Any]] = {"type": "string"}

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __repr__(self) -> str:
        return "TemplateSecretSource()"  # never the environment: it may hold secrets

    def resolve(self, argument: Any) -> str:
        """The template with its references replaced.

        Raises:
            SecretError: A variable is unset without a default, or a reference is malformed.
        """
        try:
            return interpolate(str(argument), self._environ)
        except InterpolationError as error:
            raise SecretError(str(error)) from None
