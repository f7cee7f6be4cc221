"""Configuration: the environment under one prefix, secrets files, and one-line errors."""

from pathlib import Path

import pytest

from app import healthcheck
from app.settings import DEFAULT_SECRETS_DIR, Settings, SettingsError, load_settings


def test_defaults_suit_a_container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)
    assert settings.workers is None
    assert settings.forwarded_allow_ips == "127.0.0.1"


def test_environment_is_read_under_the_app_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_PORT", "9000")
    monkeypatch.setenv("APP_DOCS_ENABLED", "false")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings = load_settings()
    assert (settings.port, settings.docs_enabled, settings.workers) == (9000, False, 3)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_PORT", "eighty"),
        ("APP_PORT", "70000"),
        ("WEB_CONCURRENCY", "0"),
        ("APP_LOG_LEVEL", "loud"),
        ("APP_DOCS_ENABLED", "maybe"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


def test_settings_are_read_from_a_secrets_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Files are named like the variables: Compose mounts secret `app_log_level` there.
    (tmp_path / "app_log_level").write_text("warning\n")
    monkeypatch.setenv("APP_SECRETS_DIR", str(tmp_path))
    assert load_settings().log_level == "warning"


def test_a_missing_secrets_dir_that_was_asked_for_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("APP_SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsError, match=r"^APP_SECRETS_DIR: "):
        load_settings()


def test_the_api_key_is_read_from_a_secrets_file_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "s3cret-value-0123456789"
    (tmp_path / "app_api_key").write_text(secret + "\n")
    monkeypatch.setenv("APP_SECRETS_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == secret
    assert secret not in repr(settings) and secret not in str(settings)


def test_an_invalid_secret_is_named_but_its_value_is_not_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "app_api_key").write_text("short-secret")
    monkeypatch.setenv("APP_SECRETS_DIR", str(tmp_path))
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith("APP_API_KEY: ")
    assert "short-secret" not in str(error.value)


def test_the_probe_knows_the_settings_defaults() -> None:
    # app.healthcheck reads the environment alone, without pydantic, when nothing else could set
    # the host or port: with the same defaults.
    fields = Settings.model_fields
    assert healthcheck.DEFAULT_HOST == fields["host"].default
    assert healthcheck.DEFAULT_PORT == fields["port"].default
    assert healthcheck.DEFAULT_SECRETS_DIR == str(DEFAULT_SECRETS_DIR)
