"""Scraping /metrics from a test: the samples, by name, and the sums the tests compare."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT_ROUTE = {"method": "GET", "route": "/", "status": "200"}


Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str) -> Samples:
    """One scrape on a new connection (so any worker may answer): samples by name."""
    response = httpx.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=5)
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples that have `labels`."""
    return sum(v for have, v in samples.get(name, []) if labels.items() <= have.items())


def worker_pids(url: str) -> set[str]:
    return {labels["pid"] for labels, _ in scrape(url).get("app_worker_open_fds", [])}


def get_root(url: str, times: int) -> None:
    # A new connection for each request: the kernel hands them to both workers.
    for _ in range(times):
        assert httpx.get(f"{url}/", headers={"Connection": "close"}, timeout=5).status_code == 200
