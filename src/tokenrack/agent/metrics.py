"""``/metrics``: the agent's counters and its registries' stats, as Prometheus text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

__all__ = ["AgentMetrics"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class AgentMetrics:
    """Requests answered, by profile and outcome (the registries count hits and fetches)."""

    def __init__(self) -> None:
        self._requests: Counter[tuple[str, str]] = Counter()

    def count(self, profile: str, outcome: str) -> None:
        """Count one answered token request."""
        self._requests[(profile, outcome)] += 1

    def render(self, stats: Mapping[str, Mapping[str, Any]]) -> str:
        """The exposition text (format 0.0.4) for these counters and the profiles' stats.

        Args:
            stats: Each served profile's ``Registry.stats()`` entry.
        """
        lines = [
            "# HELP tokenrack_agent_requests_total Token requests answered, by outcome.",
            "# TYPE tokenrack_agent_requests_total counter",
        ]
        for (profile, outcome), count in sorted(self._requests.items()):
            lines.append(
                f'tokenrack_agent_requests_total{{profile="{_label(profile)}",'
                f'outcome="{_label(outcome)}"}} {count}'
            )
        lines += [
            "# HELP tokenrack_hits_total Tokens served from the cache.",
            "# TYPE tokenrack_hits_total counter",
        ]
        lines += [
            f'tokenrack_hits_total{{profile="{_label(name)}"}} {entry.get("hits", 0)}'
            for name, entry in stats.items()
        ]
        for metric, key, label, what in (
            ("tokenrack_fetches_total", "fetches", "reason", "Token requests sent, by reason."),
            ("tokenrack_failures_total", "failures", "kind", "Failed fetches, by kind."),
        ):
            lines += [f"# HELP {metric} {what}", f"# TYPE {metric} counter"]
            for name, entry in stats.items():
                for value, count in sorted(dict(entry.get(key) or {}).items()):
                    lines.append(
                        f'{metric}{{profile="{_label(name)}",{label}="{_label(str(value))}"}} '
                        f"{count}"
                    )
        lines += [
            "# HELP tokenrack_expires_in_seconds Seconds the cached token has left.",
            "# TYPE tokenrack_expires_in_seconds gauge",
        ]
        for name, entry in stats.items():
            left = entry.get("expires_in")
            if left is not None:
                lines.append(f'tokenrack_expires_in_seconds{{profile="{_label(name)}"}} {left}')
        return "\n".join(lines) + "\n"
