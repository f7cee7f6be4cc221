"""Measure fastapi-app against the tutorial's image, side by side in one run.

    uv run python -m bench.run [--rounds 3] [--duration 8] [--out bench/results]

Needs a Docker engine, wrk and nsenter (root): load is sent to each container on its own loopback,
inside its network namespace. Cold builds are `docker build --no-cache` (every layer built again;
the harness deletes no build cache, so uv's download cache mount stays warm). Then the Compose
stack (`compose.yml`, as `docker compose up --build` runs it): one replica direct (HTTP), the
proxy over HTTPS with keep-alive from its own loopback and through the published port, side by
side; `docker stop` of one container under 32 keep-alive connections; and `deploy/rollout` under
load through the proxy.
Writes results.json (every figure), results.md (the table) and chart.png under --out.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.containers import PATHS, measure_variant, stop_under_load, variants
from bench.images import DEFAULT_BASE, SLIM_BASE, image_size, images, measure_builds, sizes
from bench.shell import docker
from bench.stack import COUNTED, PROXY, PUBLISHED, REPLICA, measure_stack
from testbed.host import ROOT


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(rounds: list[dict[str, dict[str, Any]]], workers: dict[str, int]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in rounds[0]:
        per_round = [r[name] for r in rounds]
        entry: dict[str, Any] = {
            key: median([r.get(key) for r in per_round])
            for key in ("healthy_s", "idle_mib", "stop_s", "scrape_ms", "scraped_requests")
        }
        entry["exit_codes"] = sorted({r["exit_code"] for r in per_round if "exit_code" in r})
        entry["workers"] = workers[name]
        for path in PATHS:
            entry[path] = {
                key: median([r[path].get(key) for r in per_round])
                for key in ("rps", "p50_ms", "p99_ms", "errors", "non_2xx", "cpu_us")
            }
        summary[name] = entry
    return summary


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory_gib": f"{memory_kib / 2**20:.0f}",
        "kernel": platform.release(),
        "docker": docker("version", "--format", "{{.Server.Version}}"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per wrk run")
    parser.add_argument("--python-image", default=DEFAULT_BASE)
    parser.add_argument("--slim-image", default=SLIM_BASE, help="the glibc base ours is also on")
    parser.add_argument("--rollouts", type=int, default=5, help="rollouts under load")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--cached-builds",
        action="store_true",
        help="build with the build cache: a check that the harness runs (cold builds mean nothing)",
    )
    args = parser.parse_args()

    base, slim = args.python_image, args.slim_image
    measured = images(base, slim)
    builds = measure_builds(measured, cold=not args.cached_builds)
    tutorial, ours, ours_slim = (image.tag for image in measured)
    no_curl = (
        subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", "sh", tutorial, "-c", "command -v curl"],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    )
    all_variants = variants(ours, tutorial, ours_slim)
    rounds = []
    for number in range(args.rounds):
        # Alternate: each round measures every variant once, in a rotated order.
        turn = number % len(all_variants)
        order = all_variants[turn:] + all_variants[:turn]
        rounds.append({v.name: measure_variant(v, args.duration) for v in order})
    stack = measure_stack(args.rounds, args.duration, args.rollouts)
    for figures, stack_figures in zip(rounds, stack["rounds"], strict=True):
        figures.update(stack_figures)
    workers = {v.name: v.workers for v in all_variants} | {
        REPLICA: 1,
        PROXY: 1,
        COUNTED: 1,
        PUBLISHED: 1,
    }
    stops = [stop_under_load(ours) for _ in range(args.rounds)]
    results = {
        "machine": machine(),
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "python_image": base,
            "slim_image": slim,
            "connections": 64,
            "cpus": 2,
            "cached_builds": args.cached_builds,
        },
        "images": sizes(measured),
        "base_mb": image_size(base) / 1e6,
        "slim_base_mb": image_size(slim) / 1e6,
        "builds": builds,
        "tutorial_has_curl": not no_curl,
        "summary": summarise(rounds, workers),
        "rounds": rounds,
        "rollouts": stack["rollouts"],
        "stops_under_load": stops,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    from bench.report import chart, table  # matplotlib is imported only here

    (args.out / "results.md").write_text(table(results))
    chart(results, args.out / "chart.png")
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
