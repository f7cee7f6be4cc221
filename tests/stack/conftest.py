from tests.support.docker import require_engine


def pytest_runtest_setup() -> None:
    require_engine()
