"""The Typer apps that command modules attach to (kept apart to avoid import cycles)."""

from __future__ import annotations

from typing import Annotated

import typer

import localrouter

app = typer.Typer(
    name="localrouter",
    help="A local OpenAI-compatible gateway that routes each prompt to a strong or weak model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help (sub-apps inherit it): typer's rich panels print a value type even
    # for flags ("--json <bool>").
    rich_markup_mode=None,
)
routellm_app = typer.Typer(
    help="The RouteLLM router model: download, status, predict, evaluate.", no_args_is_help=True
)
config_app = typer.Typer(help="The configuration file.", no_args_is_help=True)
router_app = typer.Typer(
    help="Routers trained on your own outcome data: train, list, show, delete.",
    no_args_is_help=True,
)

app.add_typer(routellm_app, name="routellm")
app.add_typer(config_app, name="config")
app.add_typer(router_app, name="router")


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
    # Only options of the whole program live here; the commands are in their modules.
    return
