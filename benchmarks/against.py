"""This tree against another commit, in one run: did a change make tokenrack slower?

    .venv/bin/python benchmarks/against.py REV [--rounds N]

Checks REV out into a worktree under the system's temporary directory (once), installs it
into its own .venv with `make install`, then runs benchmarks/core.py and benchmarks/cli.py
in both trees, alternating, N times (3 by default), and prints a Markdown table of the
medians with the ratio this tree / REV. Each benchmark measures its own baseline in the
same run (a locked dict for a cache hit, `python -c pass` for the CLI), so the table gives
both trees' ratios to their baselines as well as their raw numbers. The results files the
benchmarks write are restored afterwards in both trees.

PYTHONDONTWRITEBYTECODE is unset for both trees, so start-up times compare compiled
modules, as an installed wheel would have them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

MEASURES = [
    # (label, file, path in the JSON, unit)
    ("cache hit, median", "core", ("cache_hit", "tokenrack_median_ns"), "ns"),
    ("cache hit: locked dict baseline", "core", ("cache_hit", "baseline_median_ns"), "ns"),
    ("cache hit / baseline", "core", ("cache_hit", "ratio_median"), "x"),
    ("64 cold threads: token requests", "core", ("stampede", "tokenrack_requests"), ""),
    ("2 s tokens: token requests", "core", ("short_lived", "tokenrack", "requests"), ""),
    ("2 s tokens: expired served", "core", ("short_lived", "tokenrack", "expired_served"), ""),
    ("`import tokenrack`", "core", ("import", "tokenrack_ms"), "ms"),
    ("`python -c pass`", "cli", ("python_pass_ms",), "ms"),
    ("warm `tokenrack token`", "cli", ("warm_token_ms",), "ms"),
    ("warm `tokenrack token` / `python -c pass`", "cli", ("warm_ratio",), "x"),
    ("cold `tokenrack token`", "cli", ("cold_token_ms",), "ms"),
]


def checkout(rev: str) -> Path:
    """A worktree of ``rev`` with its own .venv, made once and reused."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=HERE, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"tokenrack-bench-{commit}"
    if not tree.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), commit], cwd=HERE, check=True
        )
    subprocess.run(["make", "install"], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return tree


def run_benchmarks(tree: Path) -> dict[str, dict[str, object]]:
    """Run core.py and cli.py in ``tree``; return their results, leaving its files as found."""
    results = tree / "benchmarks" / "results"
    saved = {p.name: p.read_bytes() for p in results.iterdir()} if results.exists() else {}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    python = str(tree / ".venv" / "bin" / "python")
    try:
        for script in ("core.py", "cli.py"):
            subprocess.run(
                [python, str(tree / "benchmarks" / script)],
                cwd=tree,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        return {
            name: json.loads((results / f"{name}.json").read_text()) for name in ("core", "cli")
        }
    finally:
        for path in results.iterdir():
            if path.name not in saved:
                path.unlink()
        for name, data in saved.items():
            (results / name).write_bytes(data)


def pick(document: dict[str, object], path: tuple[str, ...]) -> float:
    value: object = document
    for key in path:
        assert isinstance(value, dict)
        value = value[key]
    assert isinstance(value, (int, float))
    return float(value)


def show(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "":
        return f"{value:g}"
    return f"{value:.1f} {unit}" if unit == "ms" else f"{value:.0f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    other = checkout(args.rev)
    samples: dict[str, list[dict[str, dict[str, object]]]] = {"this": [], "other": []}
    for _ in range(args.rounds):
        samples["other"].append(run_benchmarks(other))
        samples["this"].append(run_benchmarks(HERE))
    print(f"this tree against {args.rev}: median of {args.rounds} alternating rounds\n")
    print(f"| measure | {args.rev} | this tree | this / {args.rev} |")
    print("| --- | --- | --- | --- |")
    for label, name, path, unit in MEASURES:
        old = statistics.median(pick(s[name], path) for s in samples["other"])
        new = statistics.median(pick(s[name], path) for s in samples["this"])
        ratio = f"{new / old:.2f}x" if old else "-"
        print(f"| {label} | {show(old, unit)} | {show(new, unit)} | {ratio} |")
    if shutil.which("git"):
        subprocess.run(["git", "worktree", "prune"], cwd=HERE, check=False)


if __name__ == "__main__":
    main()
