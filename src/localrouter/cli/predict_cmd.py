"""`localrouter routellm predict`: win rates for prompts from the command line or a file."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from localrouter.cli.apps import routellm_app
from localrouter.cli.errors import fail

if TYPE_CHECKING:
    from localrouter.routellm.precision import ProgressCallback
    from localrouter.routellm.prediction import Prediction


def read_prompts_file(path: Path) -> list[str]:
    """One prompt per line, or a ``.jsonl`` file of ``{"prompt": ...}`` objects.
    Blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"prompt file {path} does not exist")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read prompt file {path} ({exc})")
    lines = text.splitlines()
    if path.suffix.lower() != ".jsonl":
        return [line for line in lines if line.strip()]
    prompts: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            fail(f"{path} line {number} is not valid JSON")
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
            fail(f'{path} line {number} has no string "prompt" field')
        prompts.append(item["prompt"])
    return prompts


def conversion_progress() -> tuple[ProgressCallback, Callable[[], None]]:
    """A progress callback drawing a rich bar on stderr, shown only if a conversion runs,
    and a function to close it."""
    state: dict[str, object] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TimeRemainingColumn,
            )

            bar = Progress(  # ~65 columns: fits an 80-column terminal
                "Converting the model to ONNX",
                BarColumn(bar_width=20),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("convert", total=total)
        state["bar"].update(state["task"], completed=done, total=total)  # type: ignore[attr-defined]

    def close() -> None:
        if "bar" in state:
            state["bar"].stop()  # type: ignore[attr-defined]

    return update, close


_PLAIN_BELOW = 12  # prompt column narrower than this: one plain line per prompt instead


def _print_table(
    prompts: list[str], predictions: list[Prediction], threshold: float | None, title: str
) -> None:
    """A table whose numbers always show: the prompt column gets what the terminal has left
    (cut with an ellipsis), and a very narrow terminal gets plain lines instead."""
    from rich.console import Console
    from rich.table import Table

    from localrouter.routers.base import route

    console = Console()
    headers = ["#", "win rate"]
    if threshold is not None:
        headers.append(f"route @{threshold:g}")
    headers += ["tokens", "ms"]
    rows: list[list[str]] = []
    for i, p in enumerate(predictions):
        row = [str(i), f"{p.win_rate:.4f}"]
        if threshold is not None:
            row.append(route(p.win_rate, threshold))
        row += [f"{p.tokens}{'*' if p.truncated else ''}", f"{p.latency_ms:.1f}"]
        rows.append(row)
    texts = [" ".join(prompt.split()) for prompt in prompts]
    note = "* truncated to the model's 512 tokens" if any(p.truncated for p in predictions) else ""
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(headers)]
    # Borders and padding: 3 characters per column plus the left edge (prompt column included).
    room = console.width - sum(widths) - 3 * (len(widths) + 1) - 1
    if room < _PLAIN_BELOW:
        console.print(title, soft_wrap=True)
        for row, text in zip(rows, texts, strict=True):
            fields = [f"#{row[0]}", f"win rate {row[1]}", *row[2:-2]]
            fields += [f"{row[-2]} tokens", f"{row[-1]} ms"]
            console.print("  ".join(fields), soft_wrap=True, markup=False, highlight=False)
            console.print("  " + _cut(text, console.width - 2), markup=False, highlight=False)
        if note:
            console.print(note, soft_wrap=True)
        return
    table = Table(
        title=title,
        title_justify="left",
        caption=note or None,
        caption_justify="left",
    )
    for header, width in zip(headers, widths, strict=True):
        table.add_column(
            header,
            justify="left" if header.startswith("route") else "right",
            no_wrap=True,
            min_width=width,
        )
    prompt_width = min(room, max(len("prompt"), *(len(t) for t in texts)), 100)
    table.add_column("prompt", no_wrap=True, width=prompt_width)
    for row, text in zip(rows, texts, strict=True):
        table.add_row(*row, _cut(text, prompt_width))
    console.print(table)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


@routellm_app.command("predict")
def predict_cmd(
    prompts: Annotated[list[str] | None, typer.Argument(help="Prompts to classify.")] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model-dir", help="Checkpoint folder (default: settings, else the installed model)."
        ),
    ] = None,
    precision: Annotated[
        str | None, typer.Option("--precision", help="int8 or fp32 (default: settings).")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Also print the route: strong when win_rate >= threshold."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    file: Annotated[
        Path | None,
        typer.Option("--file", help='Prompts file: one per line, or .jsonl of {"prompt": ...}.'),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings file (default: HOME/settings.yaml).")
    ] = None,
    router: Annotated[
        str,
        typer.Option("--router", help="bert (RouteLLM, the default), random, or a trained router."),
    ] = "bert",
) -> None:
    """Print the win rate (probability the strong model wins) of each prompt."""
    from localrouter.cli.settings_file import load_cli_settings
    from localrouter.paths import home_dir
    from localrouter.routellm.errors import RouterUnavailable
    from localrouter.routellm.inference.engine import RouterEngine
    from localrouter.routellm.service import installed_model_dir
    from localrouter.routers.bert import LoadOnFirstUse
    from localrouter.routers.registry import RouterRegistry, trained_loader

    if precision is not None and precision not in ("int8", "fp32"):
        fail(f"--precision must be int8 or fp32, not {precision!r}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        fail("--threshold must be between 0 and 1")
    texts = list(prompts or [])
    if file is not None:
        texts += read_prompts_file(file)
    if not texts:
        fail("give at least one PROMPT or --file")
    if router != "bert" and (model_dir is not None or precision is not None):
        fail("--model-dir and --precision apply to --router bert only")
    settings = load_cli_settings(config).routellm
    chosen: Literal["int8", "fp32"] = precision or settings.precision  # type: ignore[assignment]
    home = home_dir()

    def load_bert() -> RouterEngine:
        folder = model_dir or settings.model_dir or installed_model_dir(home)
        if folder is None:
            fail(
                "no router model is installed; run `localrouter routellm download` "
                "or pass --model-dir"
            )
        update, close = conversion_progress()
        try:
            return RouterEngine.load(folder, chosen, settings.threads, progress=update)
        finally:
            close()

    bert = LoadOnFirstUse(load_bert)
    try:
        predictions = RouterRegistry(bert, trained_loader(home)).get(router).predict(texts)
    except RouterUnavailable as exc:
        fail(str(exc))
    finally:
        if isinstance(bert.loaded, RouterEngine):
            bert.loaded.close()
    if not as_json:
        title = f"RouteLLM win rates ({chosen})" if router == "bert" else f"{router} win rates"
        _print_table(texts, predictions, threshold, title)
        return
    from localrouter.routers.base import route

    out = sys.stdout
    for i, p in enumerate(predictions):
        item: dict[str, object] = {
            "index": i,
            "win_rate": p.win_rate,
            "tokens": p.tokens,
            "truncated": p.truncated,
            "latency_ms": round(p.latency_ms, 3),
        }
        if threshold is not None:
            item["route"] = route(p.win_rate, threshold)
        out.write(json.dumps(item) + "\n")
    out.flush()
