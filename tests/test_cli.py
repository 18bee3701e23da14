"""The top-level command group loads a command's modules only when it is looked up."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from mailloop.cli import COMMANDS, MODULES

ROOT = Path(__file__).resolve().parent.parent
LAZY = "from mailloop.cli import app; app(prog_name='mailloop')"
EAGER = ("import typer.main; from mailloop.cli import MODULES, app; "
         "typer.main.get_group(app).load(MODULES); app(prog_name='mailloop')")


def _defines(module: str) -> tuple[list[str], list[str]]:
    """(commands, groups) a command module puts on an app of its own."""
    scratch = typer.Typer()
    importlib.import_module(f"mailloop.cli.{module}").register(scratch)
    return ([c.name or "" for c in scratch.registered_commands],
            [g.name or "" for g in scratch.registered_groups])


def test_the_table_names_every_command_with_its_modules() -> None:
    assert sorted(MODULES) == sorted(p.stem for p in (ROOT / "mailloop" / "cli").glob("*.py")
                                     if hasattr(importlib.import_module(
                                         f"mailloop.cli.{p.stem}"), "register"))
    commands: list[str] = []
    groups: list[str] = []
    for module in MODULES:
        mine, theirs = _defines(module)
        commands += mine
        groups += theirs
        # every module that makes a command is loaded with it, and with each other
        # command it makes (they are built together)
        assert all(module in COMMANDS[name] for name in mine + theirs), module
        assert len({COMMANDS[name] for name in mine + theirs}) == 1, module
    # typer lists the commands, then the groups, each in the order registered
    assert list(COMMANDS) == list(dict.fromkeys(commands + groups))
    for modules in COMMANDS.values():
        assert list(modules) == [m for m in MODULES if m in modules]


def _cli(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=60, env=env, check=False)


@pytest.mark.parametrize("args", [
    ["report", "loop", "--help"], ["forget", "--help"], ["export", "x@example.org", "--help"],
    ["runn"], [],
])
def test_a_command_loaded_alone_is_the_one_of_the_whole_app(args: list[str]) -> None:
    lazy, eager = _cli(LAZY, *args), _cli(EAGER, *args)
    assert (lazy.stdout, lazy.stderr, lazy.returncode) == \
        (eager.stdout, eager.stderr, eager.returncode)
    assert lazy.stdout or lazy.stderr


def test_run_imports_no_other_command() -> None:
    code = ("import sys\nfrom mailloop.cli import app\ntry:\n    app(['run', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('mailloop.cli.')))")
    assert _cli(code).stdout.splitlines()[-1] == "['mailloop.cli.common', 'mailloop.cli.run']"
