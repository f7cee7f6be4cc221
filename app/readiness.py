"""Readiness beyond the drain: the dependencies a replica cannot serve without.

A router that holds such a dependency (a database pool opened in its lifespan) adds a check with
`add_check(app, name, check)`; `/info/ready` answers 503 and names every check that raised or took
longer than CHECK_TIMEOUT, so the proxy (or Kubernetes) sends that replica no traffic until it
passes again. Liveness (`/info/status`, the HEALTHCHECK) never runs them: a database blip must take
replicas out of rotation, not have every one of them restarted.
"""

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import FastAPI

# Raises when the dependency cannot be used.
Check = Callable[[], Awaitable[object]]

# Well within the proxy's check interval (1 s): a check that hangs fails instead.
CHECK_TIMEOUT = 0.5


def add_check(app: FastAPI, name: str, check: Check) -> None:
    """Have `/info/ready` run `check`, reported as `name` when it fails."""
    app.state.readiness_checks[name] = check


async def failing(app: FastAPI) -> list[str]:
    """The names of the checks that fail now, run side by side."""
    checks: dict[str, Check] = app.state.readiness_checks
    if not checks:
        return []
    results = await asyncio.gather(
        *(asyncio.wait_for(check(), CHECK_TIMEOUT) for check in checks.values()),
        return_exceptions=True,
    )
    return [
        name
        for name, result in zip(checks, results, strict=True)
        if isinstance(result, BaseException)
    ]
