"""The quality-vs-strong-calls plot (matplotlib, from the optional extra ``plot``)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from localrouter.evaluation.runner import EvalResult


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> ModuleType:
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(
            "matplotlib is not installed, so no plot was drawn; "
            "install it with: pip install 'localrouter[plot]'"
        ) from None
    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def save_plot(result: EvalResult, path: Path) -> Path:
    plt = _pyplot()
    data = result.data
    figure, axes = plt.subplots(figsize=(10, 6), dpi=100)
    try:
        styles: dict[str, dict[str, str]] = {
            "oracle": {"linestyle": ":"},
            "random": {"linestyle": "--"},
        }
        for router in result.all_routers:
            axes.plot(
                router.curve.strong_share * 100,
                router.curve.quality,
                label=f"{router.label} (APGR {router.scores.apgr or 0:.3f})",
                linewidth=1.5,
                **styles.get(router.name, {}),
            )
        axes.axhline(
            data.weak_quality,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"{data.weak_model} (weak)",
        )
        axes.axhline(
            data.strong_quality,
            color="red",
            linestyle="--",
            linewidth=1,
            label=f"{data.strong_model} (strong)",
        )
        axes.set_xlabel("Strong model calls (%)")
        axes.set_ylabel(data.quality_label)
        axes.set_xlim(0, 100)
        axes.set_title(f"Quality against strong-model calls ({data.name}, {len(data)} prompts)")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize="small")
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return path
