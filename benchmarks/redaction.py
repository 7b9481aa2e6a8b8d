"""Redaction of a hostile server's error text (issue 10, F8): linear time, measured.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/redaction.py``). A token endpoint
answers 400 with an ``error_description`` built for the patterns that used to backtrack
quadratically (a run of letters for the JWT shape, ``token`` repeated for the
sensitive-key names). Each case is timed three ways, in this run:

- ``json.loads`` of the same body: the baseline, the least any parser must spend;
- ``parse_token_response`` of the answer: decoding, cutting the text short, redacting and
  building the error (what a fetch does with the answer);
- the patterns as they were before issue 10, on 20 kB only: 150 kB took ~22 s and 1 MiB
  about 20 min, so the old code is shown at a size that ends.

The Markdown table printed is what docs/performance.md records.
"""

from __future__ import annotations

import json
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from tokenrack.errors import TokenRequestError
from tokenrack.oauth.message import HttpResponse
from tokenrack.oauth.response import parse_token_response

RESULTS = Path(__file__).parent / "results"

# The patterns of oauth/response.py before issue 10, kept here to measure the contrast.
_OLD_KEY = r"[A-Za-z_]*(?:token|secret|assertion|password|key)[A-Za-z_]*"
_OLD_JSON = re.compile(r'("' + _OLD_KEY + r'"\s*:\s*)("(?:[^"\\]|\\.)*("|$)|[^,}\s]+)')
_OLD_FORM = re.compile(r"(\b" + _OLD_KEY + r"=)([^&\s]*)")
_OLD_JWT = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def old_redact(text: str) -> str:
    """What the old code ran on every error_description, uncut."""
    text = _OLD_JSON.sub(lambda m: m.group(1) + '"***"', text)
    text = _OLD_FORM.sub(lambda m: m.group(1) + "***", text)
    return _OLD_JWT.sub("***", text)


def shapes(size: int) -> dict[str, str]:
    return {"letters": "a" * size, "token words": "token" * (size // 5)}


def answer(description: str) -> HttpResponse:
    body = json.dumps({"error": "invalid_request", "error_description": description})
    return HttpResponse(
        status=400,
        headers={"content-type": "application/json"},
        body=body.encode(),
        url="https://idp.example/token",
        sent_at=time.time(),
    )


def best_ms(call: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs, in milliseconds (the least noisy estimate)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def parse(response: HttpResponse) -> None:
    try:
        parse_token_response(response)
    except TokenRequestError:
        return
    raise AssertionError("a 400 with an error must raise")


def measure(sizes: Sequence[int], repeat: int = 5) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        for shape, text in shapes(size).items():
            response = answer(text)
            baseline = best_ms(partial(json.loads, response.body), repeat)
            parsed = best_ms(partial(parse, response), repeat)
            rows.append(
                {
                    "size": size,
                    "shape": shape,
                    "code": "now",
                    "json_loads_ms": baseline,
                    "ms": parsed,
                    "ratio": parsed / baseline,
                }
            )
    return rows


def measure_old(size: int) -> list[dict[str, Any]]:
    rows = []
    for shape, text in shapes(size).items():
        body = json.dumps({"error_description": text}).encode()
        baseline = best_ms(partial(json.loads, body), 3)
        old = best_ms(partial(old_redact, text), 1)
        rows.append(
            {
                "size": size,
                "shape": shape,
                "code": "before issue 10",
                "json_loads_ms": baseline,
                "ms": old,
                "ratio": old / baseline,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| error_description | shape | code | json.loads (ms) | redaction path (ms) | ratio |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        size = f"{row['size'] / 1000:g} kB" if row["size"] < 1_000_000 else "1 MiB"
        lines.append(
            f"| {size} | {row['shape']} | {row['code']} | {row['json_loads_ms']:.2f} "
            f"| {row['ms']:.2f} | {row['ratio']:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    rows = measure([150_000, 1 << 20]) + measure_old(20_000)
    results = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "rows": rows,
        "median_ratio_now": statistics.median(r["ratio"] for r in rows if r["code"] == "now"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "redaction.json").write_text(json.dumps(results, indent=2) + "\n")
    rendered = table(rows)
    (RESULTS / "redaction.md").write_text(rendered + "\n")
    print(rendered)


if __name__ == "__main__":
    main()
