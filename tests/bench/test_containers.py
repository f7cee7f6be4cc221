"""bench/containers.py: the apps that are not ours run on uvicorn as app.server runs ours."""

from app.server import options
from bench.containers import UVICORN
from tests.support.settings import make_settings


def test_other_apps_run_with_the_servers_http_options() -> None:
    ours = options(make_settings())
    assert UVICORN[UVICORN.index("--http") + 1] == ours["http"]
    assert ("--no-access-log" in UVICORN) == (ours["access_log"] is False)
    assert ("--no-server-header" in UVICORN) == (ours["server_header"] is False)
