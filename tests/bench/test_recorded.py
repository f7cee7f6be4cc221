"""The harness's reading of wrk, its medians and its report, in process on recorded output: the end
to end run (test_harness.py) only has to show that every step runs."""

import copy
import json
from pathlib import Path
from typing import Any

from bench.report import table, targets
from bench.run import summarise
from testbed.host import ROOT
from testbed.wrk import wrk_figures

RESULTS = ROOT / "bench" / "results"


def recorded() -> dict[str, Any]:
    results: dict[str, Any] = json.loads((RESULTS / "results.json").read_text())
    return results


def test_wrk_figures_reads_every_figure_and_unit() -> None:
    figures = wrk_figures((Path(__file__).parent / "wrk_report.txt").read_text())
    assert figures == {
        "requests": 53412,
        "rps": 6676.41,
        "p50_ms": 0.85,
        "p99_ms": 1020.0,
        "errors": 23,
        "connect_errors": 2,
        "read_errors": 17,
        "write_errors": 0,
        "timeout_errors": 4,
        "non_2xx": 31,
    }


def test_the_summary_is_the_median_of_the_rounds() -> None:
    results = recorded()
    workers = {name: entry["workers"] for name, entry in results["summary"].items()}
    assert summarise(results["rounds"], workers) == results["summary"]


def test_the_recorded_table_is_the_report_of_the_recorded_figures() -> None:
    assert table(recorded()) == (RESULTS / "results.md").read_text()


def test_a_failed_target_is_reported_as_failed() -> None:
    results = copy.deepcopy(recorded())
    results["stops_under_load"][0]["read_errors"] += 1
    [stops] = [row for row in targets(results) if row[0].startswith("`docker stop` under")]
    assert stops[2] is False
    assert "| **no** |" in table(results)
