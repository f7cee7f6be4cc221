"""Hostile clients against the stack as `docker compose up --build` runs it, with its default
limits: one address attacks through the published port (the host's, as Docker's port forwarding
shows it to the proxy) while a normal client on another address (tests/support/normal_client.py)
asks five times a second. Each attack is bounded in time and count, and sent to the stack's
loopback port only; each test asserts what the normal client got, and that nothing crashed.
"""

import re
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import suppress

import h2.settings
import httpx
import pytest

from testbed.compose import Stack, compose_up, get, stack_env
from testbed.docker import in_netns
from testbed.host import ROOT, wait_until
from tests.support import h2_attacks
from tests.support.needs import require_tools
from tests.support.normal_client import NormalClient
from tests.support.tls import unverified_connection

pytestmark = pytest.mark.stack

STATUSES = ROOT / "tests" / "support" / "statuses.lua"


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    require_tools("slowhttptest", "wrk", "ss", "nsenter")


@pytest.fixture(scope="module")
def stack(tools: None) -> Iterator[Stack]:
    with compose_up(stack_env("10.231.248.0/24")) as stack:
        yield stack


def normal_client(stack: Stack, seconds: float = 15) -> NormalClient:
    return NormalClient(stack.project, stack.env["API_IMAGE"], seconds)


def established(stack: Stack) -> int:
    """Client connections the proxy holds on its HTTPS port now."""
    [proxy] = stack.containers("proxy")
    listing = subprocess.run(
        in_netns(proxy, "ss", "-Htn", "state", "established", "( sport = :8443 )"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return len(listing.splitlines())


def assert_nothing_crashed(stack: Stack) -> None:
    for service in ("proxy", "api"):
        for container in stack.containers(service):
            state = container.inspect()
            assert state["State"]["Running"] and not state["State"]["OOMKilled"], service
            assert state["RestartCount"] == 0, service


def slowhttptest(stack: Stack, *mode: str, seconds: int = 30) -> subprocess.Popen[str]:
    """Debian's slowhttptest from the host, for `seconds`, 200 new connections a second."""
    return subprocess.Popen(
        ["slowhttptest", *mode, "-r", "200", "-l", str(seconds), "-p", "3"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def under_attack(stack: Stack, attack: subprocess.Popen[str], holding: int) -> dict[str, int]:
    """Once the attack holds `holding` connections to the proxy, what a normal client gets."""
    try:
        wait_until(lambda: established(stack) >= holding, 30, f"{holding} attacking connections")
        with normal_client(stack) as client:
            outcomes = client.outcomes()
    finally:
        attack.kill()
        attack.wait(timeout=30)
    assert_nothing_crashed(stack)
    return outcomes


def test_1000_slow_bodies_from_one_address_leave_the_others_served(stack: Stack) -> None:
    # Each declares 8 KiB and sends a few bytes every 5 s: the proxy waits for bodies itself
    # (`option http-buffer-request`, under its 10 s request timeout) and lets one address hold
    # 200 connections, so no replica slot is held.
    attack = slowhttptest(
        stack, "-B", "-c", "1000", "-i", "5", "-s", "8192", "-x", "10", "-t", "POST",
        "-u", f"{stack.url}/",
    )  # fmt: skip
    outcomes = under_attack(stack, attack, holding=150)
    assert set(outcomes) == {"200"} and outcomes["200"] >= 30, outcomes


def test_800_slow_readers_of_the_docs_bundle_leave_the_others_served(stack: Stack) -> None:
    attack = slowhttptest(
        stack, "-X", "-c", "800", "-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3",
        "-u", f"{stack.url}/static/docs/swagger-ui-bundle.js",
    )  # fmt: skip
    outcomes = under_attack(stack, attack, holding=150)
    assert set(outcomes) == {"200"} and outcomes["200"] >= 30, outcomes


def test_1000_slowloris_connections_leave_the_others_served(stack: Stack) -> None:
    attack = slowhttptest(stack, "-H", "-c", "1000", "-i", "5", "-u", f"{stack.url}/")
    outcomes = under_attack(stack, attack, holding=150)
    assert set(outcomes) == {"200"} and outcomes["200"] >= 30, outcomes


def wrk(stack: Stack, connections: int, seconds: int, *headers: str) -> subprocess.Popen[str]:
    """wrk from the host through the published port: one address, however many connections."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(STATUSES)]
    for header in headers:
        command += ["-H", header]
    return subprocess.Popen([*command, f"{stack.url}/"], stdout=subprocess.PIPE, text=True)


def report_of(load: subprocess.Popen[str]) -> tuple[str, dict[int, int]]:
    """wrk's report once it is done, and the count of each status in it."""
    report, _ = load.communicate(timeout=120)
    assert load.returncode == 0, report
    return report, {int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", report, re.M)}


def test_a_2000_connection_flood_from_one_address_leaves_the_others_served(stack: Stack) -> None:
    with normal_client(stack) as client, wrk(stack, 2000, 15) as flood:
        outcomes = client.outcomes()
        report, answered = report_of(flood)
    assert set(outcomes) == {"200"} and outcomes["200"] >= 30, outcomes
    # The flood got what one address may have: 200 connections (the rest were closed as they
    # came), on which some answers and some 429s (32 requests at once), never a 5xx.
    assert answered.get(200, 0) > 0 and set(answered) <= {200, 429}, report
    assert re.search(r"Socket errors: connect [1-9]", report), report
    assert_nothing_crashed(stack)


def test_one_address_past_its_share_gets_429_with_retry_after_whatever_it_claims(
    stack: Stack,
) -> None:
    # 64 requests at once from one address, past its 32. It claims another address in
    # X-Forwarded-For (the normal client's network's): that neither helps it nor harms the other.
    with normal_client(stack, seconds=10) as client, wrk(stack, 64, 8, XFF) as load:
        refused = wait_for_429(stack)
        outcomes = client.outcomes()
        report, answered = report_of(load)
    assert set(outcomes) == {"200"}, outcomes
    assert answered.get(200, 0) > 0 and answered.get(429, 0) > 0, report
    assert set(answered) == {200, 429}, report
    assert re.search(r"^unexpected 0$", report, re.M), report  # each 429 had its Retry-After
    assert refused.headers["retry-after"] == "10"
    assert refused.json() == {
        "detail": "Too many requests from this address: retry after the delay in Retry-After."
    }


XFF = "X-Forwarded-For: 172.16.0.2"


def wait_for_429(stack: Stack) -> httpx.Response:
    """A request of the loaded address's that is refused (one of its 64 at once, past 32)."""
    found: list[httpx.Response] = []

    def refused() -> bool:
        response = get(f"{stack.url}/info/status", headers={"X-Forwarded-For": "172.16.0.2"})
        found.append(response)
        return response.status_code == 429

    wait_until(refused, 8, "a 429")
    return found[-1]


def test_an_upgrade_with_a_body_smuggles_nothing_through_the_edge(stack: Stack) -> None:
    # uvicorn (httptools) ignores the length of an upgrade request it does not upgrade
    # (Kludex/uvicorn#2722): behind a proxy that passed it on, the body would be a second request.
    smuggled = b"GET /info/status HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
    )
    with unverified_connection(int(stack.env["PROXY_TLS_PORT"]), "http/1.1") as tls:
        tls.sendall(request)
        received = b""
        with suppress(TimeoutError, ssl.SSLError, ConnectionResetError):
            while chunk := tls.recv(65536):
                received += chunk
                if received.count(b"HTTP/1.1 ") > 1:
                    break
    assert received.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 400 ", b"HTTP/1.1 405 ")), received
    assert received.count(b"HTTP/1.1 ") == 1 and b'{"status":"ok"}' not in received, received


@pytest.fixture(scope="module")
def echo_stack(tools: None) -> Iterator[Stack]:
    echo = ROOT / "tests" / "support" / "echo_api.yml"
    with compose_up(stack_env("10.231.247.0/24"), overrides=(echo,)) as stack:
        yield stack


def test_only_the_edge_says_who_the_client_is(echo_stack: Stack) -> None:
    claimed = {
        "Forwarded": "for=6.6.6.6;proto=http",
        "X-Real-IP": "6.6.6.6",
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Port": "1",
        "X-Forwarded-Proto": "http",
    }
    seen = get(f"{echo_stack.url}/", headers=claimed).json()
    assert "forwarded" not in seen and "x-real-ip" not in seen and "x-forwarded-port" not in seen
    assert seen["x-forwarded-for"] != "6.6.6.6" and "6.6.6.6" not in seen["x-forwarded-for"]
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{echo_stack.env['PROXY_TLS_PORT']}"


def test_http2_rapid_resets_on_one_connection_leave_the_others_served(stack: Stack) -> None:
    # HAProxy takes 32 streams at once on a connection and does the work of each one reset: the
    # attack costs its own connection's share, not the others' (HAProxy 3.0 does not count these
    # resets as glitches, so it keeps the connection).
    with normal_client(stack, seconds=10) as client:
        outcome = h2_attacks.rapid_reset(int(stack.env["PROXY_TLS_PORT"]), streams=10_000)
        outcomes = client.outcomes()
    assert set(outcomes) == {"200"}, outcomes
    assert outcome.sent == 10_000, outcome
    assert_nothing_crashed(stack)


def test_an_http2_continuation_flood_ends_its_connection_at_once(stack: Stack) -> None:
    with normal_client(stack, seconds=10) as client:
        outcome = h2_attacks.continuation_flood(int(stack.env["PROXY_TLS_PORT"]), frames=1000)
        outcomes = client.outcomes()
    assert set(outcomes) == {"200"}, outcomes
    # The proxy takes a header block of one buffer (16 KiB) at most: two frames of 16 KB.
    assert outcome.ended_by_proxy and outcome.sent < 10, outcome
    assert_nothing_crashed(stack)


def test_http2_streams_that_never_read_are_bounded_and_cut(stack: Stack) -> None:
    # 100 streams asking for the docs bundle (1.5 MB) with a flow-control window of 0: 32 are
    # taken on the connection, the rest refused at once, and the 32 cancelled by the client
    # timeout (10 s without progress), within the 20 s the attack waits.
    with normal_client(stack, seconds=15) as client:
        outcome = h2_attacks.zero_window(
            int(stack.env["PROXY_TLS_PORT"]),
            streams=100,
            path="/static/docs/swagger-ui-bundle.js",
            seconds=20,
        )
        outcomes = client.outcomes()
    assert set(outcomes) == {"200"}, outcomes
    assert outcome.settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 32, outcome
    assert outcome.reset == 100, outcome
    assert_nothing_crashed(stack)
