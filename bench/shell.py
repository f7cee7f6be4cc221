"""The commands the harness runs: docker, and wrk from a container's network namespace."""

import subprocess
from typing import Any

from testbed.docker import Container, in_netns
from testbed.wrk import wrk_figures


def run(*command: str, timeout: float = 900, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`command`, its output captured; a failure says what the command printed on stderr."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stderr.strip()[-3000:]}"
        )
    return result


def docker(*args: str, **kwargs: Any) -> str:
    return run("docker", *args, **kwargs).stdout.strip()


def netns(container: str, *command: str) -> list[str]:
    """`command` inside the container's network namespace: the tests' helper, by container id."""
    return in_netns(Container(container), *command)


def wrk(container: str | None, url: str, seconds: int, connections: int = 64) -> dict[str, float]:
    """wrk on `url`, from the container's network namespace (None: from the host)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    return wrk_figures(run(*(netns(container, *command) if container else command)).stdout)
