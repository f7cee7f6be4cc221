"""/metrics in one process (counted in memory): its series, their labels, and the setting.

Each app a test makes counts on its own; the tests still compare before and after a scrape.
Adding up several workers is tested against real servers (tests/server/test_metrics.py) and the
image (tests/container/test_metrics.py).
"""

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import lifecycle
from app.main import create_app
from app.metrics import Recorder
from tests.support.settings import make_settings

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests(samples: Samples, **labels: str) -> float:
    return samples.get(("http_requests_total", frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> int:
    return sum(1 for sample_name, _ in samples if sample_name == name)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(version="1.2.3", revision="abc1234"))

    @app.get("/test-only/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_requests_counted_by_method_route_template_status(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    for item_id in range(5):
        assert (await client.get(f"/test-only/{item_id}")).status_code == 200
    assert (await client.get("/test-only/not-a-number")).status_code == 422
    assert (await client.head("/")).status_code == 200
    assert (await client.post("/")).status_code == 405
    after = await scrape(client)

    def added(**labels: str) -> float:
        return requests(after, **labels) - requests(before, **labels)

    assert added(method="GET", route="/test-only/{item_id}", status="200") == 5
    assert added(method="GET", route="/test-only/{item_id}", status="422") == 1
    assert added(method="HEAD", route="/", status="200") == 1
    assert added(method="POST", route="/", status="405") == 1
    # No raw path anywhere in the labels.
    assert not any("/test-only/1" in value for _, labels in after for _, value in labels)


async def test_unknown_paths_and_methods_share_one_series(client: httpx.AsyncClient) -> None:
    # Their two series exist once any unknown path or method has been seen...
    await client.get("/no-such-path")
    await client.request("BREW", "/")
    await scrape(client)  # and the scrape's own
    before = await scrape(client)
    for _ in range(1000):
        assert (await client.get(f"/{secrets.token_hex(6)}")).status_code == 404
    for method in ("BREW", "WHEN", "PROPFIND"):
        await client.request(method, "/")
    after = await scrape(client)

    # ... and no other is made, whatever the path or the method.
    assert series(after, "http_requests_total") == series(before, "http_requests_total")
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert requests(after, **unmatched) - requests(before, **unmatched) == 1000
    other = {"method": "other", "route": "/", "status": "405"}
    assert requests(after, **other) - requests(before, **other) == 3


async def test_the_docs_assets_count_under_their_mount(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    assert (await client.get("/static/docs/swagger-ui.css")).status_code == 200
    after = await scrape(client)
    labels = {"method": "GET", "route": "/static/docs/{path}", "status": "200"}
    assert requests(after, **labels) - requests(before, **labels) == 1


async def test_latency_histogram_in_flight_build_and_draining(client: httpx.AsyncClient) -> None:
    await client.get("/")
    samples = await scrape(client)
    route = frozenset({("method", "GET"), ("route", "/")})
    buckets = {
        dict(labels)["le"]: value
        for (name, labels), value in samples.items()
        if name == "http_request_duration_seconds_bucket" and route <= labels
    }
    assert list(buckets)[:3] == ["0.0025", "0.005", "0.01"] and buckets["+Inf"] >= 1
    # The scrape itself is in flight while it is answered.
    assert samples[("http_requests_in_flight", frozenset())] == 1
    build = frozenset({("version", "1.2.3"), ("revision", "abc1234")})
    assert samples[("app_build_info", build)] == 1
    assert samples[("app_draining", frozenset())] == 0
    lifecycle.draining.set()
    try:
        assert (await scrape(client))[("app_draining", frozenset())] == 1
    finally:
        lifecycle.draining.clear()


async def test_metrics_off() -> None:
    app = create_app(make_settings(metrics=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/metrics")).status_code == 404
    assert app.recorder is None  # type: ignore[attr-defined]


async def test_made_up_methods_keep_no_state_each() -> None:
    app = create_app(make_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(200):
            await client.request(secrets.token_hex(4).upper(), "/")
    recorder = app.recorder  # type: ignore[attr-defined]
    assert list(recorder.children) == [("other", "/", 405)]


def test_the_histogram_counts_each_duration_in_its_bucket() -> None:
    recorder = Recorder()
    scope = {"path": "/nowhere"}
    for seconds in (0.001, 0.0025, 0.004, 0.3, 20.0):
        recorder.started()
        recorder.finished("GET", scope, 200, seconds)
    registry = recorder.registry()
    [latency] = [f for f in registry.collect() if f.name == "http_request_duration_seconds"]
    buckets = {s.labels["le"]: s.value for s in latency.samples if s.name.endswith("_bucket")}
    assert buckets["0.0025"] == 2  # at the bound is in the bucket: `le`
    assert buckets["0.005"] == 3
    assert buckets["0.25"] == 3 and buckets["0.5"] == 4
    assert buckets["10.0"] == 4 and buckets["+Inf"] == 5
    [total] = [s.value for s in latency.samples if s.name.endswith("_sum")]
    assert total == pytest.approx(20.3075)
    [in_flight] = [f for f in registry.collect() if f.name == "http_requests_in_flight"]
    assert in_flight.samples[0].value == 0
