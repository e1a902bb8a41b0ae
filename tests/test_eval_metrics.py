"""Curve, AUC, APGR and CPT on small cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from localrouter.evaluation import metrics


def test_non_monotone_curve_by_hand() -> None:
    # delta (strong - weak) in win-rate order: +100, 0, -100, +100
    curve = metrics.router_curve(
        win_rates=[0.9, 0.7, 0.5, 0.3],
        strong_scores=[100, 100, 0, 100],
        weak_scores=[0, 100, 100, 0],
    )
    assert curve.strong_share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve.quality.tolist() == [50.0, 75.0, 75.0, 50.0, 75.0]
    assert curve.thresholds is not None
    assert curve.thresholds[0] > 0.9 and curve.thresholds[0] == math.nextafter(0.9, 1)
    assert curve.thresholds[1:].tolist() == [0.9, 0.7, 0.5, 0.3]

    s = metrics.score(curve, weak_quality=50.0, strong_quality=75.0)
    # trapezoids of width 0.25: 62.5 + 75 + 62.5 + 62.5 = 262.5
    assert s.auc == pytest.approx(65.625)
    assert s.apgr == pytest.approx((65.625 - 50) / (75 - 50))
    # 50% of the gap = 62.5, crossed halfway along the first segment
    assert s.cpt[0.5] == pytest.approx(0.125)
    assert s.cpt[0.8] == pytest.approx(0.2)


def test_cpt_takes_the_first_crossing_where_interp_cannot() -> None:
    # quality dips below the weak model, climbs past the target, dips, climbs again.
    curve = metrics.Curve(
        strong_share=np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        quality=np.array([10.0, 9.0, 15.0, 12.0, 20.0, 20.0]),
    )
    # 50% of the gap = 15: first reached exactly at share 0.4
    assert metrics.cpt(curve, 10.0, 20.0, 0.5) == pytest.approx(0.4)
    # 30% of the gap = 13: crossed on the segment 9 -> 15, two thirds of the way
    assert metrics.cpt(curve, 10.0, 20.0, 0.3) == pytest.approx(0.2 + 0.2 * 4 / 6)
    # 80% = 18: after the dip, on the segment 12 -> 20
    assert metrics.cpt(curve, 10.0, 20.0, 0.8) == pytest.approx(0.6 + 0.2 * 6 / 8)
    # RouteLLM's np.interp (quality as x) answers 0.675 for 50% on this curve.
    assert np.interp(15.0, curve.quality, curve.strong_share) == pytest.approx(0.675)


def test_cpt_never_reached_and_no_gap() -> None:
    flat = metrics.Curve(np.array([0.0, 1.0]), np.array([5.0, 5.0]))
    assert metrics.cpt(flat, 5.0, 9.0, 0.5) is None
    assert metrics.cpt(flat, 5.0, 5.0, 0.5) is None
    assert metrics.apgr(flat, 5.0, 5.0) is None


def test_tied_win_rates_move_together() -> None:
    curve = metrics.router_curve(
        win_rates=[0.5, 0.8, 0.2, 0.5],
        strong_scores=[100, 100, 0, 0],
        weak_scores=[0, 0, 100, 0],
    )
    # never a point that splits the two prompts tied at 0.5
    assert curve.strong_share.tolist() == [0.0, 0.25, 0.75, 1.0]
    assert curve.quality.tolist() == [25.0, 50.0, 75.0, 50.0]
    assert curve.thresholds is not None
    assert curve.thresholds[1:].tolist() == [0.8, 0.5, 0.2]
    s = metrics.score(curve, 25.0, 50.0)
    assert s.auc == pytest.approx(0.25 * 37.5 + 0.5 * 62.5 + 0.25 * 62.5)
    assert s.apgr == pytest.approx((56.25 - 25) / 25)
    assert s.cpt[0.5] == pytest.approx(0.125)
    # tie order in the input does not matter
    again = metrics.router_curve([0.5, 0.5, 0.8, 0.2], [0, 100, 100, 0], [0, 0, 0, 100])
    assert again.quality.tolist() == curve.quality.tolist()


def test_all_equal_win_rates_give_the_two_endpoints() -> None:
    curve = metrics.router_curve([0.3, 0.3, 0.3], [1, 1, 0], [0, 1, 1])
    assert curve.strong_share.tolist() == [0.0, 1.0]
    assert curve.quality.tolist() == pytest.approx([2 / 3, 2 / 3])


def test_random_router_is_the_diagonal_on_average() -> None:
    strong = np.array([100.0] * 60 + [0.0] * 40)
    weak = np.array([0.0] * 30 + [100.0] * 10 + [0.0] * 60)
    curve = metrics.random_router_curve(strong, weak, seeds=range(50))
    assert len(curve) == 101
    assert curve.quality[0] == pytest.approx(10.0)
    assert curve.quality[-1] == pytest.approx(60.0)
    assert metrics.apgr(curve, 10.0, 60.0) == pytest.approx(0.5, abs=0.03)


def test_oracle_sends_helpful_prompts_first() -> None:
    strong = [100, 100, 0, 100]
    weak = [0, 100, 100, 0]
    curve = metrics.oracle_curve(strong, weak)
    # two prompts gain, one is neutral, one loses
    assert curve.strong_share.tolist() == [0.0, 0.5, 0.75, 1.0]
    assert curve.quality.tolist() == [50.0, 100.0, 100.0, 75.0]
    assert metrics.apgr(curve, 50.0, 75.0) > 1.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        metrics.router_curve([0.1, float("nan")], [1, 1], [0, 0])
    with pytest.raises(ValueError):
        metrics.router_curve([0.1], [1, 1], [0, 0])
