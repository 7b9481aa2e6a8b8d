"""Cold-start benchmark (issue 15): a fresh process's first token, beside a bare requests.post.

Whole processes, run in turn in each round (so a slow moment of the machine hits every
command alike), against the token emulator over loopback TLS:

- baseline: ``python -c "import requests; requests.post(TOKEN_URL, ...)"``;
- ``import tokenrack; tokenrack.get_token("billing")`` with a config file, as every run
  after the first finds it: the validation record, the plugin index and the parsed config
  remembered by an earlier run;
- the same with the YAML parsed every time (``TOKENRACK_PARSED_CONFIG=off``: what a config
  holding an inline secret costs, since such a file is never remembered);
- the same as a first run (a fresh cache directory each time: nothing remembered);
- the CLI's cold ``tokenrack token billing`` (``TOKENRACK_CLI_CACHE=off``: no cached token;
  the validation record warm);
- ``python -c pass``, the floor.

tokenrack runs from a wheel installed in a temporary virtual environment (its dependencies
come from this venv's site-packages), with ``PYTHONDONTWRITEBYTECODE`` unset and one warm-up
run per command, so every import reads a ``.pyc`` as it does once installed. Reports the
median and p90 of each, and the ratio of the medians to the baseline's (goal: at most
1.25x); ``-X importtime`` of the warm run says where tokenrack's own time goes.

    .venv/bin/python benchmarks/coldstart.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from core import record

from tokenrack.testing import TokenEmulator
from tokenrack.testing.tls import make_certificates

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.25

BASELINE = """\
import requests
requests.post({url!r}, data={{"grant_type": "client_credentials"}},
              auth=("test-client", "test-secret"), verify={ca!r}, timeout=10).json()["access_token"]
"""
LIBRARY = 'import tokenrack; tokenrack.get_token("billing")'


def install_wheel(work: Path) -> Path:
    """A venv with tokenrack installed from a wheel built now; its python."""
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(ROOT)],
        check=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("tokenrack-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The dependencies (requests, yaml, jsonschema, stevedore) from this venv: a path
    # added by a .pth file is not itself scanned for .pth files, so this venv's editable
    # tokenrack finder stays out, and the wheel's dist-info comes first on sys.path.
    (site / "zz-bench-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # pip comes from this venv too; --ignore-installed: never uninstall this venv's own
    # (editable) tokenrack, which that .pth line makes visible.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--ignore-installed", str(wheel)],
        check=True,
    )  # fmt: skip
    where = subprocess.run(
        [str(python), "-c", "import tokenrack; print(tokenrack.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(venv) in where, f"tokenrack not imported from the wheel: {where}"
    return python


def run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


def importtime(python: Path, env: dict[str, str]) -> dict[str, float]:
    """Self time (ms) of the first-token path's imports, by top-level package (median of 5)."""
    runs: list[dict[str, float]] = []
    for _ in range(5):
        done = subprocess.run(
            [str(python), "-X", "importtime", "-c", LIBRARY],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        totals: dict[str, float] = defaultdict(float)
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            _, self_us, _, name = (part.strip() for part in line.replace(":", "|", 1).split("|"))
            totals[name.split(".")[0]] += int(self_us) / 1000
        runs.append(totals)
    names = {name for totals in runs for name in totals}
    medians = {name: statistics.median(t.get(name, 0.0) for t in runs) for name in names}
    return dict(sorted(medians.items(), key=lambda item: -item[1])[:12])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="tokenrack-coldstart-") as scratch:
        work = Path(scratch)
        python = install_wheel(work)
        certs = make_certificates(work / "tls")
        with TokenEmulator(ssl_context=certs.server_context()) as emulator:
            config = work / "tokenrack.yaml"
            config.write_text(
                "version: 1\nprofiles:\n  billing:\n    provider: generic\n"
                f"    token_url: {emulator.token_url}\n    client_id: test-client\n"
                f"    client_secret: {{env: BENCH_SECRET}}\n    ca_bundle: {certs.ca_path}\n"
            )
            env = {
                name: value
                for name, value in os.environ.items()
                if not name.startswith(("COVERAGE_", "TOKENRACK_", "PYTHON"))
            }
            env.update(
                BENCH_SECRET="test-secret",
                TOKENRACK_CONFIG=str(config),
                XDG_CACHE_HOME=str(work / "cache"),
                TOKENRACK_CLI_CACHE="off",
            )
            fresh = work / "fresh"
            commands = {
                "python_pass": ([str(python), "-c", "pass"], False),
                "baseline": (
                    [
                        str(python),
                        "-c",
                        BASELINE.format(url=emulator.token_url, ca=str(certs.ca_path)),
                    ],
                    False,
                ),
                "tokenrack": ([str(python), "-c", LIBRARY], False),
                "tokenrack_yaml": ([str(python), "-c", LIBRARY], False),
                "tokenrack_record_cold": ([str(python), "-c", LIBRARY], True),
                "cli_cold": ([str(python.with_name("tokenrack")), "token", "billing"], False),
            }
            samples: dict[str, list[float]] = {name: [] for name in commands}
            for argv, _ in commands.values():  # warm-up: .pyc written, the record filled
                run(argv, env)
            for index in range(rounds):
                for name, (argv, cold) in commands.items():
                    run_env = env
                    if cold:
                        run_env = {**env, "XDG_CACHE_HOME": str(fresh / str(index))}
                    elif name == "tokenrack_yaml":
                        run_env = {**env, "TOKENRACK_PARSED_CONFIG": "off"}
                    samples[name].append(run(argv, run_env))
                shutil.rmtree(fresh, ignore_errors=True)
            requests_made = emulator.request_count
            where = importtime(python, env)
    base = statistics.median(samples["baseline"])
    results: dict[str, object] = {
        "rounds": rounds,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
        "goal_ratio": GOAL,
        "token_requests": requests_made,
        "importtime_self_ms": where,
    }
    for name, values in samples.items():
        results[f"{name}_median_ms"] = statistics.median(values)
        results[f"{name}_p90_ms"] = p90(values)
        results[f"{name}_ratio"] = statistics.median(values) / base
    labels = {
        "python_pass": "`python -c pass` (the floor)",
        "baseline": "baseline: `import requests` + one `requests.post`",
        "tokenrack": "`import tokenrack` + `get_token` (config seen before)",
        "tokenrack_yaml": "the same, YAML parsed every time (a config with an inline secret)",
        "tokenrack_record_cold": "the same, first run (nothing remembered: a new cache directory)",
        "cli_cold": "`tokenrack token billing`, no cached token (config seen before)",
    }
    lines = [
        f"Measured {results['date']} on {results['machine']}, Python {results['python']}; "
        f"{rounds} rounds, whole processes in turn, tokenrack from a wheel, loopback TLS.",
        "",
        "| command | median | p90 | median vs baseline |",
        "| --- | --- | --- | --- |",
    ]
    for name, label in labels.items():
        ratio = results[f"{name}_ratio"]
        goal = f" (goal <= {GOAL}x)" if name == "tokenrack" else ""
        lines.append(
            f"| {label} | {results[f'{name}_median_ms']:.1f} ms | "
            f"{results[f'{name}_p90_ms']:.1f} ms | {ratio:.2f}x{goal} |"
        )
    lines += [
        "",
        "Self time of the warm run's imports by top-level package (`-X importtime`, median "
        "of 5): " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in where.items()) + ".",
    ]
    record("coldstart", results, "\n".join(lines))


if __name__ == "__main__":
    main()
