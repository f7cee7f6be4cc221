"""Turn the harness's results into the README's table and a chart.

uv run python -m bench.report [DIR]   # results.md and chart.png again from DIR/results.json
"""

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OURS, TUTORIAL = "ours (auto workers)", "tutorial"
OURS_1W, BARE_1W = "ours (1 worker)", "bare FastAPI (1 worker)"
ASYNCIO_1W, CEILING_1W = "ours (1 worker, asyncio loop)", "raw ASGI ceiling (1 worker)"
ACCESS_LOG_1W = "ours (1 worker, access log on)"
METRICS_OFF_1W = "ours (1 worker, metrics off)"
COPIED_1W = "ours (1 worker, routes copied, not included)"
OURS_SLIM, OURS_SLIM_1W = "ours, slim base (auto workers)", "ours, slim base (1 worker)"
REPLICA = "stack: one API replica, direct (its loopback)"
PROXY = "stack: through the proxy, HTTPS (its loopback)"
COUNTED = "stack: through the proxy, HTTPS (its own address: counted per client)"
PUBLISHED = "stack: through the published port, HTTPS (host loopback)"


def fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "never" if value is None else f"{value:,.{digits}f}{unit}"


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    s, images, builds = results["summary"], results["images"], results["builds"]
    rows = []
    for path in ("/", "/info/status"):
        ratio = s[OURS][path]["rps"] / s[TUTORIAL][path]["rps"]
        p99 = s[OURS][path]["p99_ms"] / s[TUTORIAL][path]["p99_ms"]
        rows.append(
            (
                f"`GET {path}` req/s, ours (auto, `--cpus 2`) / tutorial >= 3",
                f"{ratio:.2f}x",
                ratio >= 3,
            )
        )
        rows.append((f"`GET {path}` p99, ours / tutorial <= 1/3", f"{p99:.2f}", p99 <= 1 / 3))
        cost = 1 - s[OURS_1W][path]["rps"] / s[BARE_1W][path]["rps"]
        rows.append(
            (
                f"`GET {path}` production features' cost vs bare FastAPI, 1 worker <= 10%",
                f"{cost:.0%}",
                cost <= 0.10,
            )
        )
    on, off = s[OURS_1W]["/"], s[METRICS_OFF_1W]["/"]
    metrics = 1 - on["rps"] / off["rps"]
    metrics_cpu = on["cpu_us"] / off["cpu_us"] - 1
    rows.append(
        (
            "`GET /` metrics' cost vs metrics off, 1 worker <= 5%: req/s (CPU time a request: "
            f"{on['cpu_us']:.0f} vs {off['cpu_us']:.0f} us, {metrics_cpu:+.0%}; p99 "
            f"{on['p99_ms']:.2f} vs {off['p99_ms']:.2f} ms)",
            f"{metrics:.0%}",
            metrics <= 0.05,
        )
    )
    scrape, scraped = s[OURS]["scrape_ms"], s[OURS]["scraped_requests"]
    rows.append(
        (
            f"`/metrics` scrape, {s[OURS]['workers']} workers, after {scraped:,.0f} requests "
            "(>= 100,000) < 50 ms",
            fmt(scrape, 1, " ms"),
            scrape is not None and scrape < 50 and scraped >= 100_000,
        )
    )
    healthy = s[OURS]["healthy_s"]
    rows.append(
        (
            "healthy after `docker run` <= 1.5 s",
            fmt(healthy, 2, " s"),
            healthy is not None and healthy <= 1.5,
        )
    )
    added = images["ours"]["added_mb"]
    # The official bases ship no standard-library bytecode: ours adds it for what a start imports.
    rows.append(
        (
            "added over the base, the standard library's bytecode for a start included, <= 35 MB",
            f"{added:.1f} MB",
            added <= 35,
        )
    )
    rebuild = builds["ours"]["rebuild_s"]
    rows.append(("rebuild after a one-line change < 5 s", f"{rebuild:.1f} s", rebuild < 5))
    per_worker = s[OURS]["idle_mib"] / s[OURS]["workers"]
    rows.append(("idle memory per worker < 60 MB", f"{per_worker:.0f} MiB", per_worker < 60))
    stack = s[PROXY]["/"]["rps"] / s[REPLICA]["/"]["rps"]
    rows.append(
        (
            "`GET /` req/s, the stack through the proxy over HTTPS / one replica direct over HTTP "
            ">= 0.6, access log on",
            f"{stack:.2f}x",
            stack >= 0.6,
        )
    )
    counting = 1 - s[COUNTED]["/"]["rps"] / s[PROXY]["/"]["rps"]
    rows.append(
        (
            "`GET /` req/s, the limits per client address' cost (counted / not counted, through "
            "the proxy) <= 3%",
            f"{counting:.0%}",
            counting <= 0.03,
        )
    )
    failed = [failed_requests(r) for r in results["rollouts"]]
    rows.append(
        (
            f"`deploy/rollout` under 64 connections through the proxy: 0 failed requests, "
            f"each of {len(failed)} runs",
            " / ".join(map(str, failed)),
            not any(failed),
        )
    )
    stops = results["stops_under_load"]
    lost = [s["read_errors"] + s["timeout_errors"] + s["non_2xx"] for s in stops]
    rows.append(
        (
            "`docker stop` under 32 keep-alive connections, no proxy: 0 read, timeout, non-2xx; "
            f"exit 0, each of {len(stops)} runs",
            " / ".join(map(str, lost)),
            not any(lost) and all(s["exit_code"] == 0 for s in stops),
        )
    )
    return rows


def failed_requests(figures: dict[str, Any]) -> int:
    """Requests that did not get a 2xx: every socket error, and every other status."""
    return int(figures["errors"] + figures["non_2xx"])


def table(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["summary"]
    settings = results["settings"]
    lines = [
        f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"kernel {m['kernel']}, Docker {m['docker']}; base `{settings['python_image']}`, slim "
        f"base `{settings['slim_image']}`; "
        f"each single container under `--cpus {settings['cpus']}`, the stack as `compose.yml` "
        f"has it; wrk with {settings['connections']} connections from the measured container's "
        f"loopback (unless the row says otherwise), median of {settings['rounds']} rounds of "
        f"{settings['duration_s']:g} s.",
        "",
        "| variant | `GET /` req/s | p50 | p99 | CPU a request | `GET /info/status` req/s | p50 "
        "| p99 | CPU a request | idle memory | healthy after | `docker stop` |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ceiling = s[CEILING_1W]["/"]["rps"]
    for name, entry in s.items():
        cells = [name]
        for path in ("/", "/info/status"):
            figures = entry[path]
            cells += [
                fmt(figures["rps"]),
                fmt(figures["p50_ms"], 2, " ms"),
                fmt(figures["p99_ms"], 2, " ms"),
                # Measured for the single containers only (the stack's is spread over several).
                "" if figures.get("cpu_us") is None else fmt(figures["cpu_us"], 0, " us"),
            ]
        healthy = entry["healthy_s"]
        cells += [
            fmt(entry["idle_mib"], 0, " MiB"),
            (
                ""
                if name not in (OURS, OURS_SLIM, TUTORIAL)
                else "never (no curl)"
                if healthy is None and not results["tutorial_has_curl"]
                else fmt(healthy, 2, " s")
            ),
            "" if entry["stop_s"] is None else fmt(entry["stop_s"], 2, " s"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    images, builds = results["images"], results["builds"]
    # `--cached-builds` checks that the harness runs: its first builds are not cold.
    first_build = "build, cached" if settings.get("cached_builds") else "cold build"
    lines += [
        "",
        f"| image | size | added over the base | {first_build} | rebuild after a one-line change |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in images:
        lines.append(
            f"| {name} | {images[name]['size_mb']:.0f} MB | {images[name]['added_mb']:.1f} MB "
            f"| {builds[name]['cold_build_s']:.1f} s | {builds[name]['rebuild_s']:.1f} s |"
        )
    uvloop = s[OURS_1W]["/"]["rps"] / s[ASYNCIO_1W]["/"]["rps"] - 1
    included = 1 - s[OURS_1W]["/"]["rps"] / s[COPIED_1W]["/"]["rps"]
    included_cpu = s[OURS_1W]["/"]["cpu_us"] / s[COPIED_1W]["/"]["cpu_us"] - 1
    access_log = 1 - s[ACCESS_LOG_1W]["/"]["rps"] / s[OURS_1W]["/"]["rps"]
    ours_share = s[OURS_1W]["/"]["rps"] / ceiling
    bare_share = s[BARE_1W]["/"]["rps"] / ceiling
    published = s[PUBLISHED]["/"]["rps"] / s[REPLICA]["/"]["rps"]
    rollout_s = max(r["rollout_s"] for r in results["rollouts"])
    musl = s[OURS]["/"]["rps"] / s[OURS_SLIM]["/"]["rps"]
    musl_1w = s[OURS_1W]["/"]["rps"] / s[OURS_SLIM_1W]["/"]["rps"]
    musl_cpu = s[OURS_1W]["/"]["cpu_us"] / s[OURS_SLIM_1W]["/"]["cpu_us"] - 1
    stops = results["stops_under_load"]
    refused = " / ".join(str(s["write_errors"]) for s in stops)
    lines += [
        "",
        f"The stack: two replicas (`--cpus 1`, one worker each) behind the proxy. Through the "
        f"published port a client on the host also pays Docker's userland proxy: "
        f"{published:.2f}x of one replica direct. Rollouts took up to {rollout_s:.0f} s. In the "
        f"stops under load, wrk counted {refused} refused reconnections (it reports them as write "
        f"errors) once the drain had ended and the listener had closed: expected.",
        "",
        f"Share of the raw ASGI ceiling (1 worker, `GET /`): ours {ours_share:.0%}, bare FastAPI "
        f"{bare_share:.0%}. uvloop against asyncio, ours with 1 worker: {uvloop:+.0%} req/s on "
        f"`GET /`. The access log (off by default) costs {access_log:.0%} of req/s with 1 worker. "
        f"Including the routers (`include_router`, so that `app.dependency_overrides` reaches "
        f"their routes) rather than copying their routes into the app costs {included:.0%} of "
        f"req/s on `GET /` with 1 worker, {included_cpu:+.0%} CPU time a request.",
        "",
        f"The base, musl against glibc: ours on the default (Alpine) base serves {musl:.2f}x the "
        f"req/s of ours on the slim (Debian) base on `GET /` with auto workers, {musl_1w:.2f}x "
        f"with 1 worker, at {musl_cpu:+.0%} CPU time a request; the images are "
        f"{images['ours']['size_mb']:.0f} MB and {images['ours, slim base']['size_mb']:.0f} MB.",
        "",
        "| target | measured | holds |",
        "| --- | ---: | :---: |",
    ]
    lines += [
        f"| {what} | {value} | {'yes' if ok else '**no**'} |"
        for what, value, ok in targets(results)
    ]
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    s = results["summary"]
    names = list(s)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, metric, title in (
        (axes[0], "rps", "requests/s (higher is better)"),
        (axes[1], "p99_ms", "p99 latency, ms (lower is better)"),
    ):
        for offset, (route, colour) in enumerate((("/", "#4c72b0"), ("/info/status", "#dd8452"))):
            values = [s[name][route][metric] for name in names]
            positions = [i + (offset - 0.5) * 0.4 for i in range(len(names))]
            axis.barh(positions, values, height=0.4, label=f"GET {route}", color=colour)
        axis.set_yticks(range(len(names)), names)
        axis.invert_yaxis()
        axis.set_title(title)
        axis.legend()
    figure.suptitle(
        f"fastapi-app vs the tutorial's image ({results['machine']['cores']} cores, "
        f"--cpus 2, 64 connections)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results")
    results = json.loads((out / "results.json").read_text())
    (out / "results.md").write_text(table(results))
    chart(results, out / "chart.png")


if __name__ == "__main__":
    main()
