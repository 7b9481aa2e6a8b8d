"""The library's loggers, all under ``tokenrack``, which gets a ``NullHandler``.

Modules take their logger from here rather than from ``logging`` directly, so the handler is
in place before anything can log, without ``import tokenrack`` importing logging.
"""

from __future__ import annotations

import logging

__all__ = ["RAISED", "get_logger"]

RAISED = "tokenrack_raised"
"""A record attribute (``extra={RAISED: True}``): the record repeats an error that is raised
to the caller too, so a program that prints errors itself (the CLI) may leave it out."""

_ROOT = logging.getLogger("tokenrack")
if not any(isinstance(handler, logging.NullHandler) for handler in _ROOT.handlers):
    _ROOT.addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (a ``tokenrack.…`` name)."""
    return logging.getLogger(name)
