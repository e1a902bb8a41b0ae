"""`localrouter router train | list | show | delete`: routers trained on the user's data."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from localrouter.cli.apps import router_app
from localrouter.cli.errors import fail
from localrouter.paths import home_dir
from localrouter.routellm.errors import RouterModelError
from localrouter.routers.trained import store
from localrouter.routers.trained.crossval import RouterScores
from localrouter.routers.trained.data import TrainingData, TrainingDataError, load_training_data
from localrouter.routers.trained.embedders import DEFAULT_MAX_TOKENS, make_embedder
from localrouter.routers.trained.router import list_routers
from localrouter.routers.trained.train import (
    INT8_MIN_AGREEMENT,
    TrainOptions,
    build_report,
    cross_validate,
    embed_all,
    int8_agreement,
    save_router,
    timer,
)

_stderr = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


def _progress() -> Progress:
    """A bar on stderr: what runs, done of total, time so far."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_stderr,
    )


_stdout = Console(soft_wrap=True, markup=False, highlight=False)


class MethodChoice(enum.StrEnum):
    knn = "knn"
    logistic = "logistic"


def _bert_rates(home: Path) -> Callable[[Sequence[str]], np.ndarray] | None:
    """A function giving the installed BERT router's win rates (cached), or None."""
    from localrouter.evaluation.cache import cache_root
    from localrouter.evaluation.runner import bert_win_rates
    from localrouter.paths import settings_path
    from localrouter.routellm.acquisition.install import installed_model_dir
    from localrouter.settings import load_settings

    path = settings_path(home)
    settings = load_settings(path) if path.exists() else None
    model_dir = (settings.routellm.model_dir if settings else None) or installed_model_dir(home)
    if model_dir is None or not (model_dir / "config.json").is_file():
        return None
    precision = settings.routellm.precision if settings else "int8"

    def rates(prompts: Sequence[str]) -> np.ndarray:
        _stderr.print(f"BERT router on the same prompts ({model_dir}, {precision}) ...")
        return bert_win_rates(prompts, model_dir, precision, cache_root(home)).values

    return rates


def _query_precision(
    spec: str, home: Path, max_tokens: int, x: np.ndarray, data: TrainingData, k: int | None
) -> dict[str, Any]:
    """Prompts are embedded with int8 at prediction time (~3x faster on a short prompt)
    when their neighbours agree with fp32's; local ONNX embedders only."""
    from localrouter.routers.trained.embedders.onnx_encoder import OnnxEncoderEmbedder

    int8 = make_embedder(spec, home, "int8", max_tokens)
    if not isinstance(int8.inner, OnnxEncoderEmbedder):
        return {"query_precision": "fp32", "int8_agreement": None}
    agreement = int8_agreement(int8, x, data.prompts, k or 20)
    chosen = "int8" if agreement >= INT8_MIN_AGREEMENT else "fp32"
    return {"query_precision": chosen, "int8_agreement": round(agreement, 4)}


def _plot(
    options: TrainOptions, data: TrainingData, scores: dict[str, RouterScores]
) -> Callable[[Path], object] | None:
    """save_plot (evaluation/plot.py) over the cross-validated curves, or None without
    matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    from localrouter.evaluation import metrics
    from localrouter.evaluation.data import Benchmark, BenchmarkData
    from localrouter.evaluation.plot import save_plot
    from localrouter.evaluation.runner import EvalResult, RouterResult, WinRates

    weak, strong = float(data.weak_scores.mean()), float(data.strong_scores.mean())

    def result(key: str, label: str) -> RouterResult:
        s = scores[key]
        return RouterResult(key, label, s.curve, metrics.score(s.curve, weak, strong))

    bench = BenchmarkData(
        name=cast(Benchmark, f"router {options.name}, cross-validated"),
        prompts=data.prompts,
        strong_scores=data.strong_scores,
        weak_scores=data.weak_scores,
        quality_label="mean score",
        source=Path(next(iter(data.file_hashes), ".")),
        total_prompts=len(data),
        contaminated_dropped=0,
        contamination_file=None,
        strong_model="strong",
        weak_model="weak",
    )
    baselines = [result("random", "random router")]
    if "bert" in scores:
        baselines.append(result("bert", "BERT router"))
    evaluation = EvalResult(
        bench,
        WinRates(np.zeros(len(data)), router="random"),
        result("trained", f"{options.name} ({options.method}, {options.embedder})"),
        baselines,
    )
    return lambda path: save_plot(evaluation, path)


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if percent else f"{value:.3f}"


def _print_report(report: dict[str, Any], folder: Path) -> None:
    table = Table(title=f"Cross-validated quality ({report['folds']} folds)")
    for column in ("router", "APGR", "CPT(50%)", "CPT(80%)"):
        table.add_column(column)
    labels = {"trained": report["name"], "random": "random", "bert": "bert"}
    for key, m in report["metrics"].items():
        table.add_row(labels[key], _fmt(m["apgr"]), _fmt(m["cpt50"], True), _fmt(m["cpt80"], True))
    _stdout.print(table)
    k = f", k={report['k']}" if report.get("k") else ""
    _stdout.print(
        f"{report['examples']} examples ({report['duplicates_dropped']} duplicates, "
        f"{report['empty_dropped']} empty prompts dropped); {report['method']}{k}; "
        f"saved to {folder}"
    )
    if report.get("int8_agreement") is not None:
        _stdout.print(
            f"int8 query vectors: {report['int8_agreement']:.1%} of neighbours as with fp32 "
            f"(threshold {INT8_MIN_AGREEMENT:.0%}): predictions use {report['query_precision']}"
        )


@router_app.command("train")
def train_cmd(
    name: Annotated[str, typer.Argument(help="Router name: letters, digits and _.")],
    data: Annotated[
        list[Path],
        typer.Option("--data", help="Outcomes or battles (.jsonl) or RouteLLM CSV; repeatable."),
    ],
    embedder: Annotated[
        str,
        typer.Option("--embedder", help="bert, a model folder, hf:REPO_ID or provider/model."),
    ] = "bert",
    method: Annotated[MethodChoice, typer.Option("--method")] = MethodChoice.knn,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")] = 5,
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="Hold out whole groups of this field.")
    ] = None,
    strong_col: Annotated[str | None, typer.Option("--strong-col", help="CSV column.")] = None,
    weak_col: Annotated[str | None, typer.Option("--weak-col", help="CSV column.")] = None,
    k: Annotated[
        int | None, typer.Option("--k", min=1, help="Neighbours (default: chosen).")
    ] = None,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=8, help="Tokens of each prompt the embedder reads.")
    ] = DEFAULT_MAX_TOKENS,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train a router on outcome data, report cross-validated quality, save it."""
    home = home_dir()
    try:
        store.check_name(name)
        training = load_training_data(data, strong_col, weak_col)
        if folds > len(training):
            fail(f"--folds {folds} is more than the {len(training)} examples")
        embed = make_embedder(embedder, home, max_tokens=max_tokens, cache_writes=True)
        options = TrainOptions(
            name, embedder, method.value, folds, k, group_by, max_tokens=max_tokens
        )
        clock = timer()
        with _progress() as progress:
            task = progress.add_task("Embedding prompts", total=len(training))
            x = embed_all(embed, training.prompts, lambda n: progress.advance(task, n))
        embed_secs = clock()
        clock = timer()
        scores, chosen_k = cross_validate(x, training, options, _bert_rates(home))
        cv_secs = clock()
        clock = timer()
        report = build_report(
            options,
            training,
            scores,
            chosen_k,
            {"embedding": embed_secs, "cross_validation": cv_secs},
        )
        report.update(_query_precision(embedder, home, max_tokens, x, training, chosen_k))
        report["seconds"]["int8_check"] = round(clock(), 2)
        folder = save_router(
            home, options, x, training, chosen_k, report, _plot(options, training, scores)
        )
    except (TrainingDataError, RouterModelError, ValueError, OSError) as exc:
        fail(str(exc))
    if json_output:
        print(json.dumps(report))
    else:
        _print_report(report, folder)


@router_app.command("list")
def list_cmd(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The trained routers in this home."""
    routers = list_routers(home_dir())
    if json_output:
        print(json.dumps(routers))
        return
    if not routers:
        _stdout.print("No trained routers. Train one with `localrouter router train NAME`.")
        return
    table = Table()
    for column in ("name", "embedder", "method", "examples", "APGR (cv)", "created"):
        table.add_column(column)
    for r in routers:
        apgr = ((r.get("metrics") or {}).get("trained") or {}).get("apgr")
        table.add_row(
            r["name"],
            str(r.get("embedder", r.get("error", ""))),
            str(r.get("method", "")),
            str(r.get("examples", "")),
            _fmt(apgr),
            str(r.get("created", "")),
        )
    _stdout.print(table)


@router_app.command("show")
def show_cmd(name: Annotated[str, typer.Argument()]) -> None:
    """The manifest and cross-validation report of a trained router (JSON)."""
    home = home_dir()
    try:
        manifest = store.read_manifest(home, name)
        report_path = store.router_dir(home, name) / store.REPORT
    except (RouterModelError, ValueError) as exc:
        fail(str(exc))
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    print(json.dumps({"manifest": manifest, "report": report}, indent=2))


@router_app.command("delete")
def delete_cmd(name: Annotated[str, typer.Argument()]) -> None:
    """Delete a trained router."""
    try:
        deleted = store.delete(home_dir(), name)
    except ValueError as exc:
        fail(str(exc))
    if not deleted:
        fail(f"no trained router named {name!r}")
    _stdout.print(f"Deleted router {name}.")


@router_app.command("label")
def label_cmd(
    judge: Annotated[str, typer.Option("--judge", help="The judge model, provider/model.")],
    out: Annotated[Path, typer.Option("--out", help="Battles JSON lines to write.")],
    prompts_file: Annotated[
        Path | None, typer.Option("--file", help="Prompts: one per line, or .jsonl.")
    ] = None,
    from_logs: Annotated[
        bool, typer.Option("--from-logs", help="Prompts from the access log.")
    ] = False,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of log to read.")] = 7,
    max_prompts: Annotated[int | None, typer.Option("--max-prompts", min=1)] = None,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, help="Longest answer asked of each model.")
    ] = 512,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before spending.")] = False,
) -> None:
    """Label prompts with battles: strong and weak answer, the judge compares (both orders)."""
    from localrouter.evaluation.prompts import PromptFileError, read_prompt_file
    from localrouter.paths import logs_dir, settings_path
    from localrouter.routers.trained.label import LabelError, label, plan, prompts_from_logs
    from localrouter.settings import SettingsError, load_settings

    home = home_dir()
    if (prompts_file is None) == (not from_logs):
        fail("give exactly one of --file PROMPTS and --from-logs")
    try:
        settings = load_settings(settings_path(home), create=False)
        if prompts_file is not None:
            prompts = read_prompt_file(prompts_file)[:max_prompts]
        else:
            prompts = prompts_from_logs(logs_dir(home), days, max_prompts)
        work = plan(settings, prompts, judge, max_tokens)
    except (LabelError, PromptFileError, SettingsError) as exc:
        fail(str(exc))
    unpriced = f" (no price set for {', '.join(work.unpriced)})" if work.unpriced else ""
    print(
        f"{len(work.prompts)} prompts: {work.calls} calls (strong {work.strong[0]}, weak "
        f"{work.weak[0]}, judge {work.judge} twice), estimated cost at most "
        f"${work.cost_usd:.4f}{unpriced}."
    )
    try:
        confirmed = yes or typer.confirm("Send them?", default=False)
    except typer.Abort:  # no answer (stdin closed)
        confirmed = False
    if not confirmed:
        fail("nothing was sent")
    try:
        with _progress() as progress:
            task = progress.add_task("Labelling", total=len(work.prompts))
            counts = label(settings, work, out, max_tokens, lambda n: progress.advance(task, n))
    except LabelError as exc:
        fail(str(exc))
    print(
        f"Wrote {sum(counts.values())} battles to {out}: strong {counts['strong']}, "
        f"weak {counts['weak']}, tie {counts['tie']}."
    )
