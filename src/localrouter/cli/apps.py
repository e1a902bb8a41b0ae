"""The Typer apps that command modules attach to (kept apart to avoid import cycles)."""

from __future__ import annotations

from typing import Annotated

import typer

import localrouter

# Plain click help: typer's rich panels print a value type even for flags ("--json <bool>").
_HELP_STYLE = None

app = typer.Typer(
    name="localrouter",
    help="A local OpenAI-compatible gateway that routes each prompt to a strong or weak model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=_HELP_STYLE,
)
routellm_app = typer.Typer(
    help="The RouteLLM router model: download, status, predict, evaluate.",
    no_args_is_help=True,
    rich_markup_mode=_HELP_STYLE,
)
config_app = typer.Typer(
    help="The configuration file.", no_args_is_help=True, rich_markup_mode=_HELP_STYLE
)

app.add_typer(routellm_app, name="routellm")
app.add_typer(config_app, name="config")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"localrouter {localrouter.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """A local OpenAI-compatible gateway that routes each prompt to a strong or weak model."""
