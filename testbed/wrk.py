"""wrk's report, read into figures: requests, req/s, p50 and p99, socket errors, non-2xx."""

import re


def wrk_figures(report: str) -> dict[str, float]:
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", report, re.M))
    errors = dict(re.findall(r"(connect|read|write|timeout) (\d+)", report))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    return {
        "requests": int(re.search(r"(\d+) requests in", report).group(1)),  # type: ignore[union-attr]
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1)),  # type: ignore[union-attr]
        "p50_ms": to_ms(latency["50"]),
        "p99_ms": to_ms(latency["99"]),
        "errors": sum(int(n) for n in errors.values()),
        **{
            f"{kind}_errors": int(errors.get(kind, 0))
            for kind in ("connect", "read", "write", "timeout")
        },
        "non_2xx": 0 if non_2xx is None else int(non_2xx.group(1)),
    }


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
