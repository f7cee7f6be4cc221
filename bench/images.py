"""The images measured: their cold build, their rebuild after a one-line change, their size."""

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.shell import docker
from testbed.docker import build
from testbed.host import ROOT

TUTORIAL = ROOT / "bench" / "tutorial"
# The Dockerfile's default base, unless PYTHON_IMAGE names another.
DEFAULT_BASE = os.environ.get("PYTHON_IMAGE") or re.search(  # type: ignore[union-attr]
    r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M
).group(1)
# The documented alternative base, glibc's CPython: ours is measured on it too.
SLIM_BASE = os.environ.get("PYTHON_SLIM_IMAGE", "python:3.13-slim")


@dataclass
class Image:
    name: str
    tag: str
    source: Path  # the build context, with a Dockerfile
    app_file: str  # the file a one-line change is made to, for the rebuild
    base: str


def images(base: str, slim: str) -> list[Image]:
    return [
        Image("tutorial", "bench-build-tutorial", TUTORIAL, "app.py", base),
        Image("ours", "bench-build-ours", ROOT, "app/routes/root.py", base),
        Image("ours, slim base", "bench-build-ours-slim", ROOT, "app/routes/root.py", slim),
    ]


def image_size(image: str) -> int:
    """Its layers' size unpacked, in either image store (in the containerd store, `.Size` is the
    compressed size of its content)."""
    layers = docker("history", "--human=false", "--format", "{{.Size}}", image).split()
    return sum(map(int, layers))


def timed_build(
    context: Path, tag: str, base: str, dockerfile: Path | None = None, *options: str
) -> float:
    """Seconds the build took; after a lost snapshot (the engine's race), its second try's."""
    return build(
        "-q",
        *options,
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "-t",
        tag,
        "-f",
        str(dockerfile or context / "Dockerfile"),
        str(context),
        timeout=900,
    )


def measure_builds(measured: list[Image], cold: bool = True) -> dict[str, dict[str, float]]:
    """Cold build (no build cache at all, unless not `cold`), then a rebuild after a one-line change
    to the app; then each image is built again from the unchanged sources, to be measured."""
    results = {}
    for image in measured:
        with tempfile.TemporaryDirectory() as tmp:
            context = Path(tmp) / "context"
            shutil.copytree(
                image.source,
                context,
                ignore=shutil.ignore_patterns(
                    ".venv", ".git", "__pycache__", "bench", "tests", "testbed", ".*cache"
                ),
            )
            first = timed_build(context, image.tag, image.base, None, *(["--no-cache"] * cold))
            target = context / image.app_file
            target.write_text(target.read_text().replace("Hello World", "Hello, World"))
            rebuild = timed_build(context, image.tag, image.base)
        results[image.name] = {"cold_build_s": first, "rebuild_s": rebuild}
        timed_build(image.source, image.tag, image.base)
    return results


def sizes(measured: list[Image]) -> dict[str, dict[str, float]]:
    """Each image's size unpacked, and what it adds over its base, in MB."""
    return {
        image.name: {
            "size_mb": image_size(image.tag) / 1e6,
            "added_mb": (image_size(image.tag) - image_size(image.base)) / 1e6,
        }
        for image in measured
    }
