"""The command line: one module per command group, all registered on one app.

A command's module is imported (and registered) only when the command is looked up:
`mailloop run` does not wait for the imports of every other command, a good part of
its start-up. Listing the commands (`mailloop --help`, a mistyped name) loads them all.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
from collections.abc import Iterator
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

# The command modules, in the order they register: privacy joins the `export` group made
# before it, and loop adds `report loop` to the report group.
MODULES = ("run", "check", "classify", "status", "templates", "outbox", "store", "evaluate",
           "report", "newsletter", "export", "credit", "explain", "parked", "privacy", "loop")

# Every top-level command, in the order typer lists them (the commands, then the groups,
# each in the order registered), with the modules that make it.
COMMANDS: dict[str, tuple[str, ...]] = {
    "run": ("run",),
    "check": ("check",),
    "classify": ("classify",),
    "status": ("status",),
    "eval": ("evaluate",),
    "newsletter": ("newsletter",),
    "explain": ("explain",),
    "forget": ("export", "privacy"),
    "conversations": ("report", "loop"),
    "followup": ("report", "loop"),
    "templates": ("templates",),
    "outbox": ("outbox",),
    "store": ("store",),
    "report": ("report", "loop"),
    "export": ("export", "privacy"),
    "credit": ("credit",),
    "parked": ("parked",),
    "conversation": ("report", "loop"),
    "problem": ("report", "loop"),
}

_registered: set[str] = set()  # each module registers on `app` once per process


@contextlib.contextmanager
def lasting_imports() -> Iterator[None]:
    """Imports whose objects live as long as the process: the collector would walk them
    over and over while the imports run, and again at each full collection after them
    (40 ms of `mailloop run`'s start-up). It is off meanwhile, and what they made is
    kept out of its sight (gc.freeze)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class LazyGroup(TyperGroup):
    """The top-level group: a command is built when it is first looked up."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            # an unknown name loads every module, so the error can suggest the nearest
            self.load(COMMANDS.get(cmd_name, MODULES))
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self.load(MODULES)
        return super().list_commands(ctx)

    def load(self, modules: tuple[str, ...]) -> None:
        """Register `modules` (in the app's order) and build what is registered, as typer
        builds the app."""
        new = [name for name in MODULES if name in modules and name not in _registered]
        if new:
            with lasting_imports():
                for name in new:
                    importlib.import_module(f"mailloop.cli.{name}").register(app)
                    _registered.add(name)
        built = typer.main.get_group(app).commands
        order = list(COMMANDS)
        self.commands = {name: built[name] for name in sorted(
            built, key=lambda n: order.index(n) if n in order else len(order))}


def _group() -> None:
    pass  # with a callback, typer makes `app` a group before any command is in it


app = typer.Typer(
    name="mailloop",
    help="Email-first feedback helpdesk: acknowledge every message, thank Smiles, "
         "close the loop on every Opportunity for Awesome.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
    callback=_group,
)


def main() -> None:
    app()
