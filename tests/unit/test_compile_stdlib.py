"""docker/compile_stdlib.py, the image's step that compiles the standard library's bytecode for
what a start imports (the image test checks that a start then compiles nothing)."""

import subprocess
import sys
import sysconfig
from pathlib import Path

from testbed.host import ROOT
from tests.support.servers import isolated_env


def test_it_compiles_what_a_start_imports_whatever_the_build_environment(tmp_path: Path) -> None:
    # An invalid setting where the image is built (as a required one without a value would be)
    # does not fail the build: the step uses the defaults. The bytecode is written under
    # tmp_path (PYTHONPYCACHEPREFIX), never beside this interpreter's standard library.
    env = isolated_env(APP_PORT="not-a-port", PYTHONPYCACHEPREFIX=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "docker/compile_stdlib.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Each source's .pyc lies under the prefix at the source's own path, its name then a tag.
    compiled = {str(path.parent / path.name.split(".")[0]) for path in tmp_path.rglob("*.pyc")}
    stdlib = str(tmp_path) + sysconfig.get_path("stdlib")
    # The server's event loop, what the app's framework leans on, the probe's socket.
    for module in ("asyncio/base_events", "typing", "socket", "json/decoder"):
        assert f"{stdlib}/{module}" in compiled, module
    # Nothing but the standard library.
    assert all(path.startswith(stdlib) for path in compiled)
