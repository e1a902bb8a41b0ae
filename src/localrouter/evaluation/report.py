"""The evaluation as a markdown table and as a JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from localrouter.evaluation.calibrate import TABLE_PCTS, calibrate
from localrouter.evaluation.data import BenchmarkData
from localrouter.evaluation.metrics import CPT_FRACTIONS, Curve
from localrouter.evaluation.runner import EvalResult, RouterResult


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.2f}%"


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _cpt_key(fraction: float) -> str:
    return f"{round(fraction * 100)}%"


def operating_points(result: EvalResult) -> list[dict[str, float]]:
    """Thresholds of the evaluated router at round strong shares, with the quality there."""
    values = result.win_rates.values
    data = result.data
    points = []
    for pct in TABLE_PCTS:
        threshold = calibrate(values, pct, table_pcts=()).threshold
        strong = values >= threshold
        quality = float(np.where(strong, data.strong_scores, data.weak_scores).mean())
        points.append(
            {
                "target_pct": pct,
                "threshold": threshold,
                "strong_share": float(strong.mean()),
                "quality": quality,
            }
        )
    return points


def _prompt_summary(data: BenchmarkData) -> str:
    if data.contamination_file:
        dropped = f"{data.contaminated_dropped} of {data.total_prompts} dropped as contaminated"
    else:
        dropped = "no contamination list found, nothing dropped"
    if data.sampled_from is not None:
        return (
            f"{len(data)}, a random sample (seed {data.sample_seed}) of "
            f"{data.sampled_from} ({dropped})"
        )
    return f"{len(data)} ({dropped})"


def markdown(result: EvalResult) -> str:
    data, rates = result.data, result.win_rates
    lines = [
        f"# Router evaluation: {data.name}",
        "",
        f"- Prompts: {_prompt_summary(data)}",
        f"- Quality: {data.quality_label}",
        f"- Weak model: {data.weak_model}: {data.weak_quality:.2f}",
        f"- Strong model: {data.strong_model}: {data.strong_quality:.2f}",
    ]
    if rates.router == "bert":
        source = "from cache" if rates.cached else f"computed in {rates.seconds:.1f} s"
        lines.append(
            f"- Router: {rates.model_dir} ({rates.precision}, model sha256 "
            f"{(rates.model_fingerprint or '')[:12]}); win rates {source}"
        )
    elif rates.router == "random":
        lines.append("- Router: random win rates (seed 0)")
    else:
        lines.append(f"- Router: {rates.router} (win rates computed in {rates.seconds:.1f} s)")
    lines += [
        "",
        "| Router | AUC | APGR | CPT(50%) | CPT(80%) |",
        "|---|---:|---:|---:|---:|",
    ]
    for router in result.all_routers:
        s = router.scores
        lines.append(
            f"| {router.label} | {s.auc:.2f} | {_num(s.apgr, 4)} "
            f"| {_pct(s.cpt.get(0.5))} | {_pct(s.cpt.get(0.8))} |"
        )
    lines += [
        "",
        "CPT(p): the smallest share of strong-model calls that recovers p of the quality gap "
        "between the weak and the strong model. APGR: the area under the quality curve "
        "between the weak (0) and the strong (1) model's.",
        "",
        f"## Thresholds: {result.router.label} (strong when win_rate >= threshold)",
        "",
        "| Strong calls | Threshold | Quality |",
        "|---:|---:|---:|",
    ]
    for point in operating_points(result):
        lines.append(
            f"| {point['strong_share'] * 100:.1f}% | {point['threshold']:g} "
            f"| {point['quality']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _curve_points(curve: Curve) -> list[dict[str, float]]:
    points = []
    for i in range(len(curve)):
        point = {
            "strong_share": round(float(curve.strong_share[i]), 8),
            "quality": round(float(curve.quality[i]), 8),
        }
        if curve.thresholds is not None:
            point = {"threshold": float(curve.thresholds[i]), **point}
        points.append(point)
    return points


def _router_json(router: RouterResult) -> dict[str, Any]:
    return {
        "label": router.label,
        "auc": router.scores.auc,
        "apgr": router.scores.apgr,
        "cpt": {_cpt_key(f): router.scores.cpt.get(f) for f in CPT_FRACTIONS},
    }


def to_json(result: EvalResult) -> dict[str, Any]:
    data, rates = result.data, result.win_rates
    sample = (
        None
        if data.sampled_from is None
        else {"size": len(data), "seed": data.sample_seed, "population": data.sampled_from}
    )
    return {
        "benchmark": data.name,
        "quality": data.quality_label,
        "data_source": str(data.source),
        "prompts": len(data),
        "total_prompts": data.total_prompts,
        "contaminated_dropped": data.contaminated_dropped,
        "contamination_file": str(data.contamination_file) if data.contamination_file else None,
        "sample": sample,
        "weak_model": {"name": data.weak_model, "quality": data.weak_quality},
        "strong_model": {"name": data.strong_model, "quality": data.strong_quality},
        "router": {
            "name": rates.router,
            "model_dir": str(rates.model_dir) if rates.model_dir else None,
            "model_sha256": rates.model_fingerprint,
            "precision": rates.precision,
            "cached": rates.cached,
            "seconds": rates.seconds,
        },
        "random_seeds": result.random_seeds,
        "metrics": {router.name: _router_json(router) for router in result.all_routers},
        "operating_points": operating_points(result),
        "curves": {router.name: _curve_points(router.curve) for router in result.all_routers},
    }


def write_reports(result: EvalResult, out_dir: Path, stem: str) -> tuple[Path, Path, str]:
    """Write ``<stem>.md`` and ``<stem>.json``; returns their paths and the markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(result)
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(text, encoding="utf-8")
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(to_json(result), indent=1) + "\n", encoding="utf-8")
    return md_path, json_path, text
