"""`localrouter routellm eval` and `localrouter routellm calibrate`."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from localrouter.cli.apps import routellm_app
from localrouter.cli.errors import fail
from localrouter.evaluation.cache import cache_root
from localrouter.evaluation.calibrate import (
    Calibration,
    CalibrationError,
    calibrate,
    calibrate_from_logs,
)
from localrouter.evaluation.data import (
    BenchmarkData,
    EvalDataError,
    load_benchmark,
    load_mtbench,
    load_packaged,
)
from localrouter.evaluation.download import download_mt_bench
from localrouter.evaluation.prompts import PromptFileError, read_prompt_file
from localrouter.evaluation.runner import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_RANDOM_SEEDS,
    WinRates,
    bert_win_rates,
    evaluate,
    random_win_rates,
    resolve_model_dir,
    router_win_rates,
)
from localrouter.paths import home_dir, settings_path
from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.prediction import Prediction
from localrouter.routellm.service import installed_model_dir
from localrouter.routers.registry import BUILT_IN, RouterRegistry, trained_loader
from localrouter.settings import Settings, load_settings


class BenchmarkChoice(enum.StrEnum):
    mmlu = "mmlu"
    gsm8k = "gsm8k"
    mt_bench = "mt-bench"


class PrecisionChoice(enum.StrEnum):
    int8 = "int8"
    fp32 = "fp32"


ModelDirOption = Annotated[
    Path | None,
    typer.Option(
        "--model-dir", help="Checkpoint folder (default: settings' model_dir or the installed one)."
    ),
]
PrecisionOption = Annotated[
    PrecisionChoice | None,
    typer.Option("--precision", help="Runtime precision (default: from settings)."),
]
ThreadsOption = Annotated[
    int | None, typer.Option("--threads", min=0, help="ONNX Runtime threads (0 = automatic).")
]
BatchOption = Annotated[int, typer.Option("--batch-size", min=1, help="Prompts per model call.")]

_stderr = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} prompts/s", style="progress.data.speed")


def _settings(home: Path) -> Settings:
    path = settings_path(home)
    return load_settings(path) if path.exists() else Settings()


@contextmanager
def _progress(description: str) -> Iterator[Progress]:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_stderr,
        transient=False,
    ) as progress:
        yield progress


def _model_win_rates(
    prompts: list[str],
    home: Path,
    settings: Settings,
    model_dir: Path | None,
    precision: PrecisionChoice | None,
    threads: int | None,
    batch_size: int,
    refresh: bool,
    what: str,
) -> WinRates:
    folder = resolve_model_dir(model_dir, settings.routellm.model_dir, installed_model_dir(home))
    chosen = precision.value if precision else settings.routellm.precision
    with _progress(what) as progress:
        task = progress.add_task(what, total=len(prompts), start=False)

        convert_task = None

        def on_load() -> None:
            _stderr.print(f"Loading the router model from {folder} ({chosen}) ...")

        def converting(done: int, total: int) -> None:
            nonlocal convert_task
            if convert_task is None:
                convert_task = progress.add_task("Converting the checkpoint", total=total)
            progress.update(convert_task, completed=done, total=total)

        def advance(done: int, total: int) -> None:
            if convert_task is not None:
                progress.update(convert_task, visible=False)
            progress.start_task(task)
            progress.update(task, completed=done)

        rates = bert_win_rates(
            prompts,
            folder,
            chosen,
            cache_root(home),
            threads=settings.routellm.threads if threads is None else threads,
            batch_size=batch_size,
            refresh=refresh,
            progress=advance,
            on_load=on_load,
            convert_progress=converting,
        )
        if rates.cached:
            progress.update(task, completed=len(prompts), visible=False)
    if rates.cached:
        _stderr.print(f"Win rates from cache ({rates.cache_file}).")
    return rates


def _benchmark_data(benchmark: BenchmarkChoice, data: Path | None, home: Path) -> BenchmarkData:
    """From ``--data``, else the packaged copy (MMLU, GSM8K), else MT-Bench's download."""
    if data is not None:
        return load_benchmark(data, benchmark.value)
    if benchmark is BenchmarkChoice.mt_bench:
        return load_mtbench(download_mt_bench(home))
    return load_packaged("mmlu" if benchmark is BenchmarkChoice.mmlu else "gsm8k")


@routellm_app.command("eval")
def eval_cmd(
    benchmark: Annotated[
        BenchmarkChoice, typer.Option("--benchmark", "-b", help="Benchmark to run.")
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A RouteLLM checkout or its routellm/evals folder (default: MMLU and GSM8K "
            "from the package; MT-Bench downloaded once).",
        ),
    ] = None,
    router: Annotated[
        str,
        typer.Option(
            "--router", help="Router to evaluate: bert (default), random, or a trained router."
        ),
    ] = "bert",
    model_dir: ModelDirOption = None,
    precision: PrecisionOption = None,
    threads: ThreadsOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: HOME/eval).")
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option("--sample", "--limit", min=1, help="Evaluate a random subset of N prompts."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --sample.")] = 0,
    random_seeds: Annotated[
        int, typer.Option("--random-seeds", min=10, help="Seeds the random baseline averages.")
    ] = DEFAULT_RANDOM_SEEDS,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Recompute win rates even when cached.")
    ] = False,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Do not draw the PNG plot.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the metrics as JSON instead of the table.")
    ] = False,
) -> None:
    """Evaluate the router on RouteLLM's MMLU, GSM8K or MT-Bench data: the quality against
    strong-call share curve, AUC, APGR and CPT, next to a random router and an oracle."""
    from localrouter.evaluation.plot import PlotUnavailable, save_plot
    from localrouter.evaluation.report import to_json, write_reports

    home = home_dir()
    name = benchmark.value
    if router not in BUILT_IN:  # bert and random have their own paths below (cache, seeds)
        try:
            trained = RouterRegistry(_NoModel(), trained_loader(home)).get(router)
        except RouterUnavailable as exc:
            fail(str(exc))
    try:
        bench = _benchmark_data(benchmark, data, home)
    except EvalDataError as exc:
        fail(str(exc))
    if sample is not None:
        bench = bench.sample(sample, seed)
    _stderr.print(
        f"{name}: {len(bench)} prompts ({bench.contaminated_dropped} contaminated dropped"
        f"{', sampled' if bench.sampled_from else ''}) from {bench.source}"
    )

    if router == "random":
        rates = random_win_rates(len(bench), seed=0)
    elif router != "bert":
        rates = router_win_rates(trained, bench.prompts, batch_size)
    else:
        rates = _model_win_rates(
            bench.prompts,
            home,
            _settings(home),
            model_dir,
            precision,
            threads,
            batch_size,
            refresh,
            f"Routing {name}",
        )
    result = evaluate(bench, rates, random_seeds)

    out_dir = out if out is not None else home / "eval"
    stem = f"{name}-{router}"
    if bench.sampled_from is not None:
        stem += f"-sample{len(bench)}-seed{seed}"
    md_path, json_path, text = write_reports(result, out_dir, stem)
    written = [md_path, json_path]
    if not no_plot:
        try:
            written.append(save_plot(result, out_dir / f"{stem}.png"))
        except PlotUnavailable as exc:
            _stderr.print(f"Warning: {exc}")
    if json_output:
        summary = to_json(result)
        summary.pop("curves")
        typer.echo(json.dumps(summary, indent=1))
    else:
        typer.echo(text)
    for path in written:
        print(f"Wrote {path}", file=sys.stderr)


class _NoModel:
    """The registry's BERT model where only a trained router is looked up."""

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        raise RouterUnavailable("the BERT model is not loaded here")


def _print_calibration(calibration: Calibration, source: str) -> None:
    typer.echo(
        f"Threshold {calibration.threshold:g} sends {calibration.achieved_share * 100:.1f}% "
        f"({calibration.strong_count} of {calibration.total} {source}) to the strong tier "
        f"(asked for {calibration.requested_pct:g}%)."
    )
    typer.echo("")
    typer.echo("| Threshold | Strong share |")
    typer.echo("|---:|---:|")
    for threshold, share in calibration.table:
        mark = "  <-" if threshold == calibration.threshold else ""
        typer.echo(f"| {threshold:g} | {share * 100:.1f}% |{mark}")


@routellm_app.command("calibrate")
def calibrate_cmd(
    strong_pct: Annotated[
        float,
        typer.Option("--strong-pct", min=0, max=100, help="Percent of prompts to send to strong."),
    ],
    from_logs: Annotated[
        bool, typer.Option("--from-logs", help="Use the win rates in the access log.")
    ] = False,
    days: Annotated[
        int, typer.Option("--days", min=1, help="With --from-logs: how many days back.")
    ] = 7,
    file: Annotated[
        Path | None,
        typer.Option("--file", help='Prompts: one per line, or .jsonl of {"prompt": ...}.'),
    ] = None,
    model_dir: ModelDirOption = None,
    precision: PrecisionOption = None,
    threads: ThreadsOption = None,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    router: Annotated[
        str | None,
        typer.Option(
            "--router",
            help="bert, random or a trained router (default: routing.router of the settings).",
        ),
    ] = None,
) -> None:
    """The threshold that sends a given share of prompts to the strong tier
    (strong when win_rate >= threshold), for the selected router."""
    if from_logs == (file is not None):
        fail("pass exactly one of --from-logs or --file PROMPTS")
    home = home_dir()
    settings = _settings(home)
    name = router or settings.routing.router
    try:
        if from_logs:
            calibration = calibrate_from_logs(strong_pct, home, days, router=name)
            source = f"requests routed by {name} in the last {days} days"
        else:
            assert file is not None
            prompts = read_prompt_file(file)
            if name == "bert":
                values = _model_win_rates(
                    prompts,
                    home,
                    settings,
                    model_dir,
                    precision,
                    threads,
                    batch_size,
                    False,
                    "Predicting",
                ).values
            else:
                registry = RouterRegistry(_NoModel(), trained_loader(home))
                values = router_win_rates(registry.get(name), prompts, batch_size).values
            calibration = calibrate(values, strong_pct)
            source = f"prompts, router {name}"
    except (CalibrationError, PromptFileError, RouterUnavailable) as exc:
        fail(str(exc))
    if json_output:
        typer.echo(json.dumps({"router": name, **calibration.to_dict()}))
    else:
        _print_calibration(calibration, source)
