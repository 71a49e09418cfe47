"""Every sub-command option says its environment variable and, where it has one, its default."""

from __future__ import annotations

import argparse

from offchain.cli import COMMANDS, build_parser

TOP_LEVEL = {"-h", "--help", "--version", "-v", "--verbose"}


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if action.option_strings and not set(action.option_strings) & TOP_LEVEL:
            yield action


def test_every_option_names_its_env_var():
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in _options(parser):
            if "BALLAST_" not in (action.help or ""):
                missing.append(f"ballast {' '.join(path)} {action.option_strings[0]}")
    assert missing == []


def test_every_default_is_shown_in_help():
    for path, parser in _parsers(build_parser()):
        text = parser.format_help()
        for action in _options(parser):
            default = action.default
            if default in (None, False, argparse.SUPPRESS) or isinstance(default, list):
                continue
            assert "default" in (action.help or "").lower() or f"(default: {default})" in text, (
                path,
                action.dest,
            )


def test_top_level_help_lists_every_command_without_importing_it():
    text = " ".join(build_parser([]).format_help().split())
    for name, help_text in COMMANDS.items():
        assert f"{name} {help_text}" in text
