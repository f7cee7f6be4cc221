"""app.server: uvicorn's options in the container."""

from app.server import options
from tests.support.settings import make_settings


def test_uvicorn_options_suit_a_container() -> None:
    opts = options(make_settings(forwarded_allow_ips="10.0.0.0/8"))
    assert opts["app"] == "app.main:create_app"
    assert opts["factory"] is True
    assert opts["http"] == "httptools"
    assert opts["server_header"] is False
    assert opts["forwarded_allow_ips"] == "10.0.0.0/8"
    assert opts["timeout_graceful_shutdown"] > 0


def test_proxy_headers_are_trusted_from_loopback_only_by_default() -> None:
    assert options(make_settings())["forwarded_allow_ips"] == "127.0.0.1"
