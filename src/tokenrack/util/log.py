"""The library's loggers, all under ``tokenrack``, which gets a ``NullHandler``.

Modules take their logger from here rather than from ``logging`` directly, so the handler is
in place before anything can log, without ``import tokenrack`` importing logging.
"""

from __future__ import annotations

import logging

__all__ = ["get_logger"]

_ROOT = logging.getLogger("tokenrack")
if not any(isinstance(handler, logging.NullHandler) for handler in _ROOT.handlers):
    _ROOT.addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (a ``tokenrack.…`` name)."""
    return logging.getLogger(name)
