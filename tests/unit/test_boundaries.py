"""No import across the project's boundaries: the service ships alone, and the tests, the benchmark
and what they share (testbed/) each import only what is below them. Only the benchmark's own tests
(tests/bench/) import the benchmark."""

import ast
from pathlib import Path

import pytest

from testbed.host import ROOT

# What each top-level package may not import.
FORBIDDEN = {
    "app": {"certs", "tests", "bench", "testbed"},
    "certs": {"app", "tests", "bench", "testbed"},
    "testbed": {"tests", "bench"},
    "bench": {"tests"},
    "tests": {"bench"},
}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_across_its_boundary(package: str) -> None:
    crossings = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
        if not path.is_relative_to(ROOT / "tests" / "bench")
    }
    assert {name: found for name, found in crossings.items() if found} == {}
