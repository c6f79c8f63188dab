"""A click group whose subcommands are imported only when run.

``lamina --help`` stays instant, and each command lives in its own module.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """A group mapping command names to ``("module:attribute", "short help")``, imported on use.

    The short help is shown by ``--help`` without importing the command's module (which may import
    torch).

    Args:
        lazy: command name -> (``"package.module:attribute"`` of a ``click.Command``, short
            help).
    """

    def __init__(
        self, *args: object, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name][0].split(":")
            command = getattr(importlib.import_module(module), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name][0]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy:
                rows.append((name, self.lazy[name][1]))
            else:
                command = super().get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
