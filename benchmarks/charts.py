"""Bar charts (SVG, standard library only) of the benchmark results, beside their JSON.

`record()` in core.py calls `draw(name, results)` after each benchmark, so `make bench`
writes `benchmarks/results/<name>-<chart>.svg` next to `<name>.json`. Run this file to
redraw every chart from the results already there, without running a benchmark:

    .venv/bin/python benchmarks/charts.py

docs/performance.md shows the charts; the docs build publishes them (docs/_hooks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

RESULTS = Path(__file__).resolve().parent / "results"

WIDTH = 680
LABEL_WIDTH = 230
VALUE_WIDTH = 110
ROW = 30
BAR = 20
TOP = 52
BOTTOM = 34
TOKENRACK = "#3f51b5"
OTHER = "#9e9e9e"


def bar_chart(
    title: str,
    values: Mapping[str, float],
    *,
    unit: str,
    note: str = "",
    colors: Mapping[str, str] | None = None,
    digits: int = 0,
) -> str:
    """One horizontal bar per value, to scale from zero, each labelled with its value.

    Args:
        title: The chart's heading.
        values: Bar label to value (drawn in this order).
        unit: What the values count or measure, printed after each value.
        note: A footnote: where the numbers come from.
        colors: A colour per label; by default tokenrack's bars stand out and the rest are grey.
        digits: Decimals printed for each value.
    """
    if not values:
        raise ValueError(f"chart {title!r}: no values")
    largest = max(values.values())
    scale = (WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20) / largest if largest > 0 else 0.0
    height = TOP + ROW * len(values) + BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label={quoteattr(title)} '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="13">',
        f"<title>{escape(title)}</title>",
        # A light card of its own, so the chart reads the same in the site's dark mode.
        f'<rect class="background" width="{WIDTH}" height="{height}" rx="6" fill="#ffffff" '
        'stroke="#e0e0e0"/>',
        f'<text x="16" y="30" font-size="15" font-weight="600" fill="#212121">{escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(values.items()):
        y = TOP + index * ROW
        colour = (colors or {}).get(label) or (TOKENRACK if "tokenrack" in label else OTHER)
        width = max(value * scale, 1.0)
        shown = f"{value:,.{digits}f} {unit}"
        parts += [
            f'<text x="{LABEL_WIDTH - 10}" y="{y + BAR / 2 + 4}" text-anchor="end" '
            f'fill="#212121">{escape(label)}</text>',
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR}" '
            f'rx="2" fill="{colour}" data-value="{value}"><title>{escape(label)}: '
            f"{escape(shown)}</title></rect>",
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + BAR / 2 + 4}" '
            f'fill="#424242">{escape(shown)}</text>',
        ]
    if note:
        parts.append(
            f'<text x="16" y="{height - 12}" font-size="11" fill="#616161">{escape(note)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _measured(results: Mapping[str, Any]) -> str:
    when = results.get("date")
    python = results.get("python")
    return ", ".join(
        part
        for part in (f"measured {when}" if when else "", f"Python {python}" if python else "")
        if part
    )


def _compare(results: Mapping[str, Any]) -> dict[str, str]:
    libraries = list(results["cache_hit"])
    note = f"benchmarks/compare.py, {_measured(results)}"
    return {
        "cache-hit": bar_chart(
            "Cache hit, median: lower is better",
            {lib: results["cache_hit"][lib]["median_ns"] for lib in libraries},
            unit="ns",
            note=note,
        ),
        "cold-64": bar_chart(
            "64 threads on a cold cache: token requests",
            {lib: results["cold_64"][lib]["requests"] for lib in libraries},
            unit="requests",
            note=note,
        ),
        "short-lived": bar_chart(
            "2 s tokens, 8 threads, 10 s: token requests",
            {lib: results["short_lived"][lib]["requests"] for lib in libraries},
            unit="requests",
            note=note,
        ),
        "import": bar_chart(
            "Import time, median: lower is better",
            {lib: results["import"][lib] for lib in libraries},
            unit="ms",
            note=note,
            digits=1,
        ),
    }


CACHE_COLOURS = {"memory": OTHER, "file": "#009688", "redis": TOKENRACK}


def _fleet(results: Mapping[str, Any]) -> dict[str, str]:
    rows = results["requests_per_refresh"]

    def label(processes: int, cache: str, **_: Any) -> str:
        return f"{processes} process{'es' if processes != 1 else ''}, {cache}"

    values = {label(**row): float(row["requests_per_refresh"]) for row in rows}
    colours = {label(**row): CACHE_COLOURS[row["cache"]] for row in rows}
    return {
        "requests-per-refresh": bar_chart(
            "Token requests per refresh, by processes and cache",
            values,
            unit="per refresh",
            note=f"benchmarks/fleet.py, {_measured(results)}; memory only is the baseline",
            colors=colours,
            digits=2,
        )
    }


def _cli(results: Mapping[str, Any]) -> dict[str, str]:
    return {
        "cold-start": bar_chart(
            "Starting the tokenrack command: wall time, median",
            {
                "python -c pass": results["python_pass_ms"],
                "python, full-path imports": results["python_imports_ms"],
                "tokenrack token (warm)": results["warm_token_ms"],
                "tokenrack token (cold)": results["cold_token_ms"],
            },
            unit="ms",
            note="benchmarks/cli.py; warm: a token in the file cache; cold: load, validate, fetch",
            digits=1,
        )
    }


def _core(results: Mapping[str, Any]) -> dict[str, str]:
    imports = results["import"]
    return {
        "import": bar_chart(
            "import tokenrack beside what it defers: -X importtime, median",
            {name.removesuffix("_ms").replace("_", " "): value for name, value in imports.items()},
            unit="ms",
            note=f"benchmarks/core.py, {_measured(results)}",
            digits=1,
        )
    }


def _coldstart(results: Mapping[str, Any]) -> dict[str, str]:
    return {
        "first-token": bar_chart(
            "A fresh process's first token: wall time, median",
            {
                "python -c pass": results["python_pass_median_ms"],
                "import requests + requests.post": results["baseline_median_ms"],
                "tokenrack.get_token (config seen before)": results["tokenrack_median_ms"],
                **(
                    {"tokenrack.get_token (YAML every time)": results["tokenrack_yaml_median_ms"]}
                    if "tokenrack_yaml_median_ms" in results
                    else {}
                ),
                "tokenrack.get_token (first run)": results["tokenrack_record_cold_median_ms"],
                "tokenrack token (no cached token)": results["cli_cold_median_ms"],
            },
            unit="ms",
            note=f"benchmarks/coldstart.py, {_measured(results)}; goal: 1.25x the baseline",
            digits=1,
        )
    }


CHARTS: dict[str, Callable[[Mapping[str, Any]], dict[str, str]]] = {
    "coldstart": _coldstart,
    "compare": _compare,
    "fleet": _fleet,
    "cli": _cli,
    "core": _core,
}
"""Which charts each benchmark's results draw (a benchmark without an entry draws none)."""


def draw(name: str, results: Mapping[str, Any], directory: Path = RESULTS) -> list[Path]:
    """Write the charts of one benchmark's results as ``<name>-<chart>.svg`` in ``directory``."""
    charts = CHARTS.get(name)
    if charts is None:
        return []
    written = []
    for chart, svg in charts(results).items():
        path = directory / f"{name}-{chart}.svg"
        path.write_text(svg)
        written.append(path)
    return written


def main() -> None:
    """Redraw every chart from the results JSON already in ``benchmarks/results``."""
    for source in sorted(RESULTS.glob("*.json")):
        for path in draw(source.stem, json.loads(source.read_text())):
            print(path.relative_to(RESULTS.parent.parent))


if __name__ == "__main__":
    main()
