"""The README cannot drift from the code: its settings table is the Settings class."""

from app.settings import Settings, variable
from tests.support.servers import ROOT


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = "(none)" if field.default is None else f"`{field.default}`"
        rows.append(f"| `{variable(name)}` | {default} | {field.description} |")
    return "\n".join(rows)


def test_readme_documents_every_setting() -> None:
    table = settings_table()
    assert table in (ROOT / "README.md").read_text(), f"paste this table into README.md:\n{table}"


def test_readme_shows_the_latest_benchmark_table() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- bench:start -->\n", 1)[1].split("<!-- bench:end -->", 1)[0]
    assert shown == (ROOT / "bench" / "results" / "results.md").read_text()
