"""Settings: the TOML file, environment overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailloop.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_example_configuration_loads_and_resolves_paths() -> None:
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.reps[0].name == "Jenny Alvarez"
    assert settings.reps[0].aliases == ["Jenny", "Jen"]
    assert settings.managers[0].email == "dana.lee@example.com"
    assert settings.mailbox.kind == "maildir" and settings.delivery.kind == "maildir"
    assert settings.store_path == ROOT / "var" / "mailloop.json"
    assert settings.inbox_path == ROOT / "var" / "inbox"
    assert settings.templates_path == ROOT / "templates"
    assert {t.name for t in settings.topics} >= {"billing", "delivery"}


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[delivery]\nfrom_address = "care@example.org"\nkind = "smtp"\n')
    monkeypatch.setenv("MAILLOOP_DELIVERY__PASSWORD", "s3cret")
    monkeypatch.setenv("MAILLOOP_DELIVERY__HOST", "smtp.example.org")
    settings = load_settings(file)
    assert settings.delivery.from_address == "care@example.org"
    assert settings.delivery.host == "smtp.example.org"
    assert settings.delivery.password is not None
    assert settings.delivery.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "c.toml"
    file.write_text('state_dir = "elsewhere"\n')
    monkeypatch.setenv("MAILLOOP_CONFIG", str(file))
    assert load_settings().state_path == tmp_path / "elsewhere"


@pytest.mark.parametrize(("text", "expected"), [
    ('[mailbox]\nkind = "pop3"\n', "mailbox.kind = 'pop3': input should be 'maildir' or 'imap'"),
    ('[delivery]\nconnections = 0\n', "delivery.connections = 0: input should be greater"),
    ('[mailbox]\nkindd = "imap"\n', "mailbox.kindd: unknown key"),
    ('[[reps]]\nemail = "x@example.com"\n', "reps.0.name"),
    ('[delivery]\nfrom_address = "not-an-address"\n', "delivery.from_address = 'not-an-address'"),
    ('[mailbox]\nkind = "imap"\ntls = "none"\nhost = "imap.example.com"\n', "tls = 'none'"),
    ("this is = = not toml", "not valid TOML"),
])
def test_invalid_files_name_the_key_the_value_and_the_expectation(
        tmp_path: Path, text: str, expected: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(file)
    assert expected in str(info.value)
    assert str(file) in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "missing.toml")
