"""cli/settings.py: each command's settings from the command line, then `MCPTASKS_*`, then defaults.

In-process: `build_parser()` parses a command line, the command's settings model loads it with
the environment `monkeypatch` sets. The subprocess tests (tests/cli) run the same paths end to end.
"""

from __future__ import annotations

import argparse

import pytest

from mcptasks.cli import build_parser, main
from mcptasks.cli.db import UpgradeSettings
from mcptasks.cli.serve import ServeSettings
from mcptasks.cli.settings import CommandSettings, SettingsError
from mcptasks.cli.tasks import ListSettings, ShowSettings
from mcptasks.core.status import TaskStatus

MODELS: list[type[CommandSettings]] = [
    CommandSettings,
    UpgradeSettings,
    ServeSettings,
    ListSettings,
    ShowSettings,
]


@pytest.fixture(autouse=True)
def _no_mcptasks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own `MCPTASKS_*` settings must not leak into these tests."""
    import os

    for key in list(os.environ):
        if key.startswith("MCPTASKS_"):
            monkeypatch.delenv(key)


def load(*argv: str) -> CommandSettings:
    args = build_parser().parse_args(argv)
    model: type[CommandSettings] = args.settings
    return model.load(args)


def test_the_command_line_beats_the_environment_which_beats_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = load("serve", "--demo")
    monkeypatch.setenv("MCPTASKS_PORT", "9001")
    monkeypatch.setenv("MCPTASKS_LEASE_MS", "4000")
    from_env = load("serve", "--demo")
    from_flag = load("serve", "--demo", "--port", "9002")

    assert isinstance(default, ServeSettings)
    assert (default.port, default.lease_ms) == (8000, 30_000)
    assert isinstance(from_env, ServeSettings)
    assert (from_env.port, from_env.lease_ms) == (9001, 4000)
    assert isinstance(from_flag, ServeSettings)
    assert (from_flag.port, from_flag.lease_ms) == (9002, 4000)


def test_lists_come_repeated_on_the_command_line_or_separated_in_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flags = load(
        "serve", "--demo", "--auth-required-scope", "tasks:read", "--auth-required-scope", "tasks:write"
    )
    monkeypatch.setenv("MCPTASKS_AUTH_REQUIRED_SCOPE", "a b,c")
    monkeypatch.setenv("MCPTASKS_STATUS", "Working, failed")
    monkeypatch.setenv("MCPTASKS_JSON", "on")
    variable = load("serve", "--demo")
    listing = load("tasks", "list")
    replaced = load("tasks", "list", "--status", "cancelled")

    assert isinstance(flags, ServeSettings) and isinstance(variable, ServeSettings)
    assert flags.auth_required_scope == ("tasks:read", "tasks:write")
    assert variable.auth_required_scope == ("a", "b", "c")
    assert isinstance(listing, ListSettings) and isinstance(replaced, ListSettings)
    assert listing.status == (TaskStatus.WORKING, TaskStatus.FAILED)
    assert listing.as_json is True
    assert replaced.status == (TaskStatus.CANCELLED,)


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPTASKS_DEMO", "")
    monkeypatch.setenv("MCPTASKS_PORT", "")

    settings = load("serve", "app:server")

    assert isinstance(settings, ServeSettings)
    assert (settings.demo, settings.port) == (False, 8000)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["serve", "--demo", "--port", "x"], {}, "--port: input should be a valid integer"),
        (["serve", "--demo"], {"MCPTASKS_PORT": "x"}, "MCPTASKS_PORT: input should be a valid integer"),
        (
            ["serve"],
            {"MCPTASKS_APP": "a:b", "MCPTASKS_LOG_LEVEL": "loud"},
            "MCPTASKS_LOG_LEVEL: input should be",
        ),
        (["tasks", "show", "x", "--log-level", "loud"], {}, "--log-level: input should be 'DEBUG'"),
        (["tasks", "show", "x"], {"MCPTASKS_JSON": "2"}, "MCPTASKS_JSON: input should be a valid boolean"),
    ],
)
def test_an_invalid_value_names_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    with pytest.raises(SettingsError) as raised:
        load(*argv)

    assert str(raised.value).startswith(message)


def test_main_reports_an_invalid_value_in_one_line_with_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MCPTASKS_LIMIT", "0")

    status = main(["tasks", "list"])

    assert status == 2
    assert capsys.readouterr().err == (
        "mcptasks: error: MCPTASKS_LIMIT: input should be greater than or equal to 1, got '0'\n"
    )


def test_the_client_secret_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPTASKS_AUTH_CLIENT_SECRET", "s3cr3t-value")

    settings = load("serve", "--demo")

    assert isinstance(settings, ServeSettings)
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings)
    assert settings.auth_client_secret is not None
    assert settings.auth_client_secret.get_secret_value() == "s3cr3t-value"


@pytest.mark.parametrize("model", MODELS, ids=[model.__name__ for model in MODELS])
def test_every_setting_is_an_option_named_in_help(
    monkeypatch: pytest.MonkeyPatch, model: type[CommandSettings]
) -> None:
    """A field without `Option` would be settable only through the environment, unseen in --help."""
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option
    parser = argparse.ArgumentParser(prog="t")
    model.add_options(parser)
    shown = parser.format_help()

    for name in model.model_fields:
        assert f"(env: {model.env_name(name)})" in shown, name
        if model.option_name(name).startswith("--"):
            assert model.option_name(name) in shown, name
