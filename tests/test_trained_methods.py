"""knn and logistic on small, hand-made embeddings; the store's names, atomic writes and
load errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routers.base import Router
from localrouter.routers.trained import list_routers, load_router, store
from localrouter.routers.trained.crossval import folds
from localrouter.routers.trained.methods import (
    KnnModel,
    LogisticModel,
    knn_win_rates_for_ks,
    normalize,
)


def _clusters(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two clusters: strong wins around +e0, weak wins around -e0."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.float64)
    x = rng.normal(0, 0.3, (n, 8))
    x[:, 0] += np.where(y == 1, 1.0, -1.0)
    return normalize(x), y


def test_knn_counts_ties_half_and_averages_neighbours() -> None:
    stored = normalize(np.array([[1, 0], [1, 0.01], [1, -0.01], [-1, 0]], dtype=np.float32))
    model = KnnModel(stored, np.array([1.0, 0.5, 0.0, 1.0]), k=3)
    rate = model.win_rates(normalize(np.array([[1.0, 0.0]])))
    assert rate[0] == pytest.approx(0.5)  # (1 + 0.5 + 0) / 3, the far example not counted
    all_k = knn_win_rates_for_ks(stored, model.targets, normalize(np.array([[1.0, 0.0]])), (1, 3))
    assert all_k[3][0] == pytest.approx(0.5)
    assert all_k[1][0] == pytest.approx(1.0)  # the nearest alone: [1, 0] itself


def test_knn_and_logistic_separate_clusters() -> None:
    x, y = _clusters(400)
    test_x, test_y = _clusters(200, seed=1)
    knn = KnnModel(x, y, 10).win_rates(test_x)
    assert np.mean((knn >= 0.5) == (test_y == 1)) > 0.95
    logistic = LogisticModel.fit(x, y).win_rates(test_x)
    assert np.all((logistic >= 0) & (logistic <= 1))
    assert np.mean((logistic >= 0.5) == (test_y == 1)) > 0.95


def test_logistic_class_weights_keep_the_rare_class() -> None:
    x, y = _clusters(1000)
    keep = np.flatnonzero((y == 0) | (np.arange(len(y)) % 20 == 1))  # strong wins: ~5%
    model = LogisticModel.fit(x[keep], y[keep])
    test_x, test_y = _clusters(200, seed=2)
    rates = model.win_rates(test_x)
    # Balanced weights: the rare class is still recognised (unweighted, it would sit < 0.5).
    assert np.mean(rates[test_y == 1] >= 0.5) > 0.9


def test_group_folds_hold_out_whole_groups() -> None:
    groups = [f"g{i % 7}" for i in range(70)]
    parts = folds(70, 3, groups)
    assert sorted(np.concatenate(parts).tolist()) == list(range(70))
    for part in parts:
        inside = {groups[i] for i in part}
        outside = {groups[i] for i in set(range(70)) - set(part.tolist())}
        assert not inside & outside


@pytest.mark.parametrize("name", ["a-b", "with space", "", "x/y", "bert", "random"])
def test_bad_router_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="router name"):
        store.new_router_folder(tmp_path, name)


def test_missing_and_damaged_routers_say_so(tmp_path: Path) -> None:
    with pytest.raises(RouterUnavailable, match="no trained router named 'nothing'"):
        load_router(tmp_path, "nothing")
    with pytest.raises(RouterUnavailable, match="not valid"):
        load_router(tmp_path, "bad-name")
    folder = store.routers_dir(tmp_path) / "broken"
    folder.mkdir(parents=True)
    (folder / store.MANIFEST).write_text("{", encoding="utf-8")
    with pytest.raises(RouterUnavailable, match="damaged"):
        load_router(tmp_path, "broken")
    (folder / store.MANIFEST).write_text(
        json.dumps({"method": "knn", "k": 5, "embedder": "bert"}), encoding="utf-8"
    )
    with pytest.raises(RouterUnavailable, match="train it again"):
        load_router(tmp_path, "broken")  # the embeddings file is missing
    assert [r["name"] for r in list_routers(tmp_path)] == ["broken"]


def test_commit_replaces_a_router_whole(tmp_path: Path) -> None:
    first = store.new_router_folder(tmp_path, "r1")
    (first / "a").write_text("1")
    store.commit(tmp_path, "r1", first)
    second = store.new_router_folder(tmp_path, "r1")
    (second / "b").write_text("2")
    final = store.commit(tmp_path, "r1", second)
    assert sorted(p.name for p in final.iterdir()) == ["b"]
    assert [p.name for p in store.routers_dir(tmp_path).iterdir()] == ["r1"]
    assert store.delete(tmp_path, "r1")
    assert not store.delete(tmp_path, "r1")


def test_trained_router_is_a_router() -> None:
    from localrouter.routers.trained import TrainedRouter

    assert isinstance(TrainedRouter("x", None, None, {}), Router)  # type: ignore[arg-type]


def test_inverted_file_index_finds_the_exact_neighbours_mostly() -> None:
    from localrouter.routers.trained import ivf

    rng = np.random.default_rng(0)
    centres = normalize(rng.normal(size=(200, 32)))
    x = normalize(np.repeat(centres, 30, axis=0) + rng.normal(0, 0.1, (6000, 32)))
    layout = ivf.build(x)
    assert sorted(layout.order.tolist()) == list(range(6000))
    assert layout.offsets[-1] == 6000
    stored = x[layout.order]
    search = ivf.IvfSearch(stored, layout.centroids, layout.offsets)
    recall = []
    for q in normalize(centres[:50] + rng.normal(0, 0.1, (50, 32))):
        exact = set(np.argpartition(-(stored @ q), 49)[:50].tolist())
        recall.append(len(exact & set(search.neighbours(q, 50).tolist())) / 50)
    assert np.mean(recall) >= 0.9
    # More neighbours than the probed lists hold: more lists are probed.
    assert len(search.neighbours(x[0], 3000)) == 3000


def test_saved_knn_router_uses_the_index_from_many_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localrouter.routers.trained import ivf, train
    from localrouter.routers.trained.data import TrainingData
    from localrouter.routers.trained.router import load_model

    x, y = _clusters(3000)
    data = TrainingData([f"p{i}" for i in range(3000)], y, y, 1 - y, [{}] * 3000)
    options = train.TrainOptions("many", "unused-embedder", "knn", k=25)
    report = {"metrics": {}}
    exact_folder = train.save_router(tmp_path, options, x, data, 25, report)
    exact = load_model(exact_folder, json.loads((exact_folder / store.MANIFEST).read_text()))
    monkeypatch.setattr(ivf, "EXACT_BELOW", 1000)
    options.name = "many_ivf"
    folder = train.save_router(tmp_path, options, x, data, 25, report)
    manifest = json.loads((folder / store.MANIFEST).read_text())
    assert manifest["index"] == "ivf" and (folder / store.IVF).is_file()
    assert np.load(folder / store.EMBEDDINGS).dtype == np.float16
    indexed = load_model(folder, manifest)
    queries, _ = _clusters(100, seed=3)
    assert np.abs(indexed.win_rates(queries) - exact.win_rates(queries)).mean() < 0.05
