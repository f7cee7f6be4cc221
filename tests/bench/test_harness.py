"""The benchmark harness runs end to end (on a tiny duration, its builds cached): its figures are
not judged here, and its reading of them is tested on recorded output (test_recorded.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.host import ROOT
from tests.support.needs import require_engine

pytestmark = pytest.mark.bench


# The harness is allowed its 900 s, over the suite's 300 s per test.
@pytest.mark.timeout(960)
def test_the_harness_writes_its_table_json_and_chart(tmp_path: Path) -> None:
    require_engine()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--rounds",
            "1",
            "--duration",
            "1",
            "--rollouts",
            "1",
            "--cached-builds",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["tutorial"]["/"]["rps"] > 0
    assert results["summary"]["ours (auto workers)"]["healthy_s"] is not None
    assert results["summary"]["ours, slim base (auto workers)"]["healthy_s"] is not None
    assert results["images"]["ours, slim base"]["added_mb"] > 0
    assert results["summary"]["ours (1 worker, routes copied, not included)"]["/"]["rps"] > 0
    assert results["summary"]["tutorial"]["healthy_s"] is None  # no curl in its image
    assert results["summary"]["stack: through the proxy, HTTPS (its loopback)"]["/"]["rps"] > 0
    counted = "stack: through the proxy, HTTPS (its own address: counted per client)"
    assert results["summary"][counted]["/"]["rps"] > 0
    assert len(results["rollouts"]) == 1 and len(results["stops_under_load"]) == 1
    assert "| target | measured | holds |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
