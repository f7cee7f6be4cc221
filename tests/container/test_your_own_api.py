"""docs/your-own-api.md, followed step by step in a temporary copy of the repository: rename (to
a name of its own, not the page's), add the page's router, its test and its two lines in
app/main.py, remove the private router as the page says, then run the test command's lint, types
and in-process layer on the result, build the image and call the new routes in it."""

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed.docker import build_image, docker, run_container
from testbed.host import ROOT

pytestmark = pytest.mark.container

GUIDE = ROOT / "docs" / "your-own-api.md"
# Not the page's `my-api`: nothing may depend on the name the page happens to use.
NEW_NAME = "orders-service"


def guide_files() -> dict[str, str]:
    """The page's files: each code block right after a line "`path`:"."""
    found = re.findall(r"^`([\w/.]+)`:\n\n```python\n(.*?)^```", GUIDE.read_text(), re.M | re.S)
    return dict(found)


def remove_the_private_router(copy: Path) -> None:
    """The page's last section: the router, its test, its import and the block that adds it."""
    (copy / "app" / "routes" / "private.py").unlink()
    (copy / "tests" / "unit" / "test_private.py").unlink()
    main = copy / "app" / "main.py"
    text = main.read_text()
    block = re.search(
        r"^    # Routes that need the API key.*?\n    if settings\.api_key is not None:\n.*?\n",
        text,
        re.M | re.S,
    )
    assert block, "app/main.py has no block that adds the private router"
    text = text.replace(block.group(0), "")
    text, imports = re.subn(r"^(from app\.routes import .*)\bprivate, ", r"\1", text, flags=re.M)
    assert imports == 1, "app/main.py does not import private as the page says"
    main.write_text(text)


def guide_lines_for_main() -> list[str]:
    """The lines of step 3, each replacing the line of app/main.py that starts like it."""
    step = GUIDE.read_text().split("## 3.", 1)[1].split("## 4.", 1)[0]
    return [block.rstrip("\n") for block in re.findall(r"```python\n(.*?)```", step, re.S)]


@pytest.fixture
def copy(tmp_path: Path) -> Iterator[Path]:
    """The repository's tracked files, as they are in the working tree, in a new folder."""
    target = tmp_path / "my-api"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in tracked)):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    yield target
    shutil.rmtree(target, ignore_errors=True)


def run(copy: Path, *command: str) -> subprocess.CompletedProcess[str]:
    # Its own environment: not this run's virtualenv, coverage or settings.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("APP_", "COVERAGE_", "VIRTUAL_ENV", "UV_PROJECT"))
    }
    result = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


# A virtualenv, mypy with no cache and the in-process layer in the copy, then an image build.
@pytest.mark.timeout(600)
def test_the_guide_gives_a_service_of_your_own(image: str, copy: Path) -> None:
    run(copy, "scripts/rename", NEW_NAME)
    for name, text in guide_files().items():
        (copy / name).write_text(text)
    main = copy / "app" / "main.py"
    lines = main.read_text().splitlines()
    for new in guide_lines_for_main():
        # The line it replaces: the same module's import, or the same name's assignment.
        head = re.match(r"\s*(from \S+ import|\w+ =)", new)
        assert head, new
        [at] = [i for i, old in enumerate(lines) if old.startswith(head.group(0))]
        lines[at] = new
    main.write_text("\n".join(lines) + "\n")
    remove_the_private_router(copy)
    assert "fastapi-app" not in (copy / "pyproject.toml").read_text()

    # The test command's lint, types and in-process layer on the result, the guide's tests among
    # them (the real-server layer too would take minutes more; the image is this test's own, below).
    checks = run(
        copy,
        "scripts/test",
        "-p",
        "no:cacheprovider",
        "-m",
        "not container and not stack and not swarm and not bench and not server",
    )
    assert re.search(r"\d+ passed", checks.stdout), checks.stdout[-3000:]
    assert "test_items.py" in checks.stdout and "test_private.py" not in checks.stdout

    tag = f"{NEW_NAME}:guide-test"
    build_image(tag, context=str(copy), dockerfile=str(copy / "Dockerfile"))
    try:
        labels = json.loads(docker("image", "inspect", tag).stdout)[0]["Config"]["Labels"]
        with run_container(tag, "--read-only", "--cap-drop", "ALL") as container:
            container.wait_healthy(timeout=10)
            url = container.url()
            put = httpx.put(f"{url}/items/7", json={"name": "pen", "price": 2.5})
            read = httpx.get(f"{url}/items/7")
            title = httpx.get(f"{url}/openapi.json").json()["info"]["title"]
            hello = httpx.get(f"{url}/")
            stock = httpx.get(f"{url}/stock/pen")
            ready = httpx.get(f"{url}/info/ready")
    finally:
        docker("rmi", tag, check=False)
    assert put.status_code == 200 and read.json() == {"id": 7, "name": "pen", "price": 2.5}
    assert labels["org.opencontainers.image.title"] == title == NEW_NAME
    assert hello.json() == "Hello World"
    # Step 5's pool was opened by the app's lifespan in the image, and its check passes.
    assert (stock.json(), ready.json()) == (12, {"status": "ready"})
