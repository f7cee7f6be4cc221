"""The docs cannot drift from the code: their tables are the code's, their links lead somewhere."""

import re

from app import NAME
from app.settings import Settings, variable
from testbed.host import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = "(none)" if field.default is None else f"`{field.default}`"
        rows.append(f"| `{variable(name)}` | {default} | {field.description} |")
    return "\n".join(rows)


def test_the_configuration_page_documents_every_setting() -> None:
    table = settings_table()
    page = ROOT / "docs" / "configuration.md"
    assert table in page.read_text(), f"paste this table into {page}:\n{table}"


def test_the_stack_pages_document_every_compose_variable_with_its_default() -> None:
    compose = (ROOT / "compose.yml").read_text()
    variables = dict(re.findall(r"\$\{(\w+):[-?]([^}]*)\}", compose))
    # The stack's page, and the HTTPS page for the variables of TLS.
    pages = "\n".join((ROOT / "docs" / name).read_text() for name in ("stack.md", "https.md"))
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*?) \|", pages, re.M))
    for name, default in variables.items():
        assert name in rows, f"docs/stack.md or docs/https.md has no row for {name}"
        # The docs keep the template's name after scripts/rename (API_IMAGE's default tag).
        default = default.replace(NAME, "fastapi-app")
        assert rows[name].startswith(f"`{default}`"), (name, rows[name], default)


def test_every_link_between_pages_leads_to_a_file_and_a_heading() -> None:
    for page in DOCS:
        for target, anchor in re.findall(
            r"\]\((?!https?:)([^)#]*)(?:#([^)]*))?\)", page.read_text()
        ):
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), f"{page.name}: {target}"
            if anchor and path.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", path.read_text(), re.M)
                slugs = {
                    re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings
                }
                assert anchor in slugs, f"{page.name}: #{anchor} not in {path.name}"


def test_the_readme_shows_the_latest_benchmark_table() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- bench:start -->\n", 1)[1].split("<!-- bench:end -->", 1)[0]
    assert shown == (ROOT / "bench" / "results" / "results.md").read_text()


def test_the_stack_page_states_the_proxys_load_limits_as_configured() -> None:
    config = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    connections = int(re.search(r"^\s+maxconn (\d+)$", config, re.M).group(1))  # type: ignore[union-attr]
    # Both per replica, from API_MAX_IN_FLIGHT, whose default compose.yml gives.
    setting = '"${API_MAX_IN_FLIGHT}"'
    assert re.search(rf"^\s+default-server .* maxconn {re.escape(setting)} ", config, re.M)
    assert f"nbsrv,mul({setting})" in config
    compose = (ROOT / "compose.yml").read_text()
    default = re.search(r"API_MAX_IN_FLIGHT: \$\{API_MAX_IN_FLIGHT:-(\d+)\}", compose)
    assert default is not None, "compose.yml gives the proxy no API_MAX_IN_FLIGHT"
    in_flight = waiting = int(default.group(1))
    queue_timeout = re.search(r"^\s+timeout queue (\d+)ms$", config, re.M).group(1)  # type: ignore[union-attr]
    row = re.search(r"^\| load \| (\d.*) \|$", (ROOT / "docs" / "stack.md").read_text(), re.M)
    assert row is not None, "docs/stack.md has no `load` row"
    assert row.group(1) == (
        f"{connections:,} client connections; {in_flight} requests in flight per replica and "
        f"{waiting} waiting (`API_MAX_IN_FLIGHT`), then 503 with `Retry-After` at once; "
        f"{queue_timeout} ms at most in the queue"
    ), row.group(1)


def test_the_readmes_layout_names_every_module_of_the_app_and_the_cert_manager() -> None:
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("```")[1]
    named = set(re.findall(r"^\s+(\w+\.py)\s", layout, re.M))
    for package in ("app", "certs"):
        modules = {p.name for p in (ROOT / package).glob("*.py")} - {"__init__.py", "__main__.py"}
        assert modules <= named, f"README's layout does not name {sorted(modules - named)}"
