from tests.support.needs import require_engine


def pytest_runtest_setup() -> None:
    require_engine()
