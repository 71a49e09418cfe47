"""``offchain.core.env`` (the one boolean parser) and ``offchain.cli.options.Options`` (the one way an
option, its env var and its help are declared)."""

from __future__ import annotations

import argparse
import os

import pytest

from offchain.cli import build_parser, main
from offchain.cli.options import Options
from offchain.core.env import env_value, parse_flag
from offchain.core.errors import InputError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("BALLAST_") and key != "BALLAST_HYPOTHESIS_PROFILE":
            monkeypatch.delenv(key)


@pytest.mark.parametrize("text", ["1", "true", "TRUE", " yes ", "On", "y", "Y"])
def test_parse_flag_true(text: str) -> None:
    assert parse_flag(text, "X") is True


@pytest.mark.parametrize("text", [None, "", "   ", "0", "false", "False", " no", "OFF", "n", "N"])
def test_parse_flag_false(text: str | None) -> None:
    assert parse_flag(text, "X") is False


@pytest.mark.parametrize("text", ["maybe", "2", "yess", "-1", "t"])
def test_parse_flag_rejects_anything_else(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_flag(text, "environment variable BALLAST_X")
    assert str(info.value) == f"environment variable BALLAST_X={text!r} is not a boolean; use 1 or 0"


def test_keeper_config_uses_the_same_parser() -> None:
    from offchain.keeper import config

    assert config.parse_flag is parse_flag
    assert config.load_config(None, {"BALLAST_KEEPER_ONCE": " Yes "}).once is True
    with pytest.raises(InputError, match="bad value 'maybe' for dry_run"):
        config.load_config(None, {"BALLAST_KEEPER_DRY_RUN": "maybe"})


def test_env_value(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_value("BALLAST_T_UNSET") is None
    assert env_value("BALLAST_T_UNSET", "d") == "d"
    monkeypatch.setenv("BALLAST_T_BLANK", "  ")
    assert env_value("BALLAST_T_BLANK", "d") == "d"
    monkeypatch.setenv("BALLAST_T_SET", " x ")
    assert env_value("BALLAST_T_SET", "d") == " x "


def _parser(legacy: str | None = None) -> tuple[argparse.ArgumentParser, Options]:
    p = argparse.ArgumentParser(prog="t")
    opts = Options(p, "demo", legacy_prefix=legacy)
    opts.add("--count", type=int, default=3, help="how many")
    opts.add("--dry-run", action="store_true", help="do nothing")
    opts.add("--mode", action="store_const", const="fast", default="slow", help="go fast")
    opts.add("name", env="NAME", nargs="?", help="a positional")
    opts.add("--item", dest="items", action="append", type=int, default=None, help="repeatable")
    opts.add("--url", required=True, group="remote", help="where")
    return p, opts


def test_env_name_from_flag_or_env_keyword_and_in_help() -> None:
    p, _ = _parser()
    helps = {a.dest: a.help for a in p._actions}
    assert helps["count"] == "how many [env: BALLAST_DEMO_COUNT]"
    assert helps["dry_run"] == "do nothing [env: BALLAST_DEMO_DRY_RUN=1]"
    assert helps["mode"] == "go fast [env: BALLAST_DEMO_MODE=1]"
    assert helps["name"] == "a positional [env: BALLAST_DEMO_NAME]"
    assert helps["items"] == "repeatable [env: BALLAST_DEMO_ITEM, several separated by ';']"
    assert helps["url"] == "where [env: BALLAST_DEMO_URL]"
    assert "remote:" in p.format_help()
    with pytest.raises(ValueError, match="env=NAME"):
        Options(argparse.ArgumentParser(), "demo").add("pos", help="no name")


def test_defaults_without_env() -> None:
    p, _ = _parser()
    ns = p.parse_args(["--url", "u"])
    assert (ns.count, ns.dry_run, ns.mode, ns.name, ns.items, ns.url) == (3, False, "slow", None, None, "u")
    with pytest.raises(SystemExit):
        p.parse_args([])  # --url is required while BALLAST_DEMO_URL is unset


def test_env_is_the_default_and_a_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "COUNT": "7",
        "DRY_RUN": "yes",
        "MODE": "1",
        "NAME": "bob",
        "ITEM": "1; 2;",
        "URL": "http://env",
    }.items():
        monkeypatch.setenv(f"BALLAST_DEMO_{key}", value)
    p, _ = _parser()
    ns = p.parse_args([])  # the env var satisfies the required --url
    assert (ns.count, ns.dry_run, ns.mode, ns.name, ns.items, ns.url) == (
        7,
        True,
        "fast",
        "bob",
        [1, 2],
        "http://env",
    )
    ns = p.parse_args(["--count", "9", "ann", "--item", "5", "--item", "6", "--url", "http://flag"])
    assert (ns.count, ns.name, ns.items, ns.url) == (9, "ann", [5, 6], "http://flag")


def test_blank_env_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLAST_DEMO_COUNT", " ")
    monkeypatch.setenv("BALLAST_DEMO_DRY_RUN", "")
    p, _ = _parser()
    ns = p.parse_args(["--url", "u"])
    assert ns.count == 3 and ns.dry_run is False


def test_bad_env_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLAST_DEMO_DRY_RUN", "perhaps")
    with pytest.raises(InputError, match=r"BALLAST_DEMO_DRY_RUN='perhaps' is not a boolean; use 1 or 0"):
        _parser()
    monkeypatch.delenv("BALLAST_DEMO_DRY_RUN")
    monkeypatch.setenv("BALLAST_DEMO_ITEM", "1;two")
    with pytest.raises(InputError, match=r"^BALLAST_DEMO_ITEM: invalid literal"):
        _parser()
    monkeypatch.delenv("BALLAST_DEMO_ITEM")
    monkeypatch.setenv("BALLAST_DEMO_COUNT", "many")
    p, _ = _parser()
    with pytest.raises(SystemExit):  # a value option's variable is converted by argparse: a usage error
        p.parse_args(["--url", "u"])
    assert p.parse_args(["--url", "u", "--count", "4"]).count == 4  # only when the flag is absent


def test_legacy_name_is_read_when_the_new_one_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLAST_COUNT", "5")
    assert _parser(legacy="BALLAST_")[0].parse_args(["--url", "u"]).count == 5
    assert _parser()[0].parse_args(["--url", "u"]).count == 3  # no legacy prefix: not read
    monkeypatch.setenv("BALLAST_DEMO_COUNT", "6")
    assert _parser(legacy="BALLAST_")[0].parse_args(["--url", "u"]).count == 6  # the new name wins
    monkeypatch.setenv("BALLAST_DEMO_COUNT", "")
    monkeypatch.setenv("BALLAST_DRY_RUN", "nah")
    with pytest.raises(InputError, match="environment variable BALLAST_DRY_RUN='nah'"):
        _parser(legacy="BALLAST_")
    _, opts = _parser()
    assert opts.env_name("DRY_RUN") == "BALLAST_DEMO_DRY_RUN"


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ballast: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("var", "argv"),
    [
        ("BALLAST_AUDIT_NO_PLOTS", ["audit", "--vault", "0x0", "--rpc-url", "http://127.0.0.1:1"]),
        ("BALLAST_BACKTEST_NO_REPORT", ["backtest", "sp500", "--weights", "equal"]),
        ("BALLAST_SIMULATE_JSON", ["simulate"]),
        ("BALLAST_OPTIMIZE_JSON", ["optimize", "sp500"]),
        ("BALLAST_KEEPER_APPLY", ["keeper", "targets"]),
    ],
)
def test_bad_boolean_env_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], var: str, argv: list[str]
) -> None:
    monkeypatch.setenv(var, "sometimes")
    line = _one_error_line(capsys, argv)
    assert line == f"ballast: error: environment variable {var}='sometimes' is not a boolean; use 1 or 0"


def test_required_audit_options_come_from_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["audit"])
    assert info.value.code == 2 and "--vault" in capsys.readouterr().err
    monkeypatch.setenv("BALLAST_AUDIT_VAULT", "not-an-address")
    monkeypatch.setenv("BALLAST_AUDIT_RPC_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("BALLAST_AUDIT_SAMPLES", "7")
    args = build_parser(["audit"]).parse_args(["audit"])
    assert (args.vault, args.rpc_url, args.samples) == ("not-an-address", "http://127.0.0.1:1", 7)
    assert "--vault 'not-an-address' is not an address" in _one_error_line(capsys, ["audit"])


def test_help_names_the_env_var_and_shows_the_env_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BALLAST_AUDIT_WORKERS", "9")
    monkeypatch.setenv("BALLAST_KEEPER_QUEUE", "1")
    for argv, expected in [
        (["audit", "--help"], "(default: 9) [env: BALLAST_AUDIT_WORKERS]"),
        (["backtest", "--help"], "[env: BALLAST_BACKTEST_POLICY, several separated by ';']"),
        (["simulate", "--help"], "[env: BALLAST_SIMULATE_NO_COSTS=1]"),
        (["optimize", "--help"], "(default max-sharpe) [env: BALLAST_OPTIMIZE_OBJECTIVE]"),
        (["keeper", "targets", "--help"], "(default: True) [env: BALLAST_KEEPER_QUEUE=1]"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert expected in " ".join(capsys.readouterr().out.split()), argv
