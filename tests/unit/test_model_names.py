"""Model-name resolution (gateway/proxy/routing.py), table-driven, plain calls."""

from __future__ import annotations

import pytest

from localrouter.gateway.errors import ApiError
from localrouter.gateway.proxy.routing import Resolved, resolve_model, tier_chain
from localrouter.settings import Settings, parse_settings

SETTINGS: Settings = parse_settings(
    {
        "providers": [
            {"name": "up", "base_url": "http://127.0.0.1:9/v1", "models": ["listed"]},
            {"name": "other", "base_url": "http://127.0.0.1:9/v1", "models": ["listed", "solo"]},
        ],
        "routing": {"strong": ["up/s1", "other/s2"], "weak": ["up/w1"]},
    }
)


@pytest.mark.parametrize(
    ("name", "router", "threshold"),
    [
        ("localrouter/auto", None, None),
        ("auto", None, None),  # the alias of localrouter/auto
        ("router-bert-0.25", "bert", 0.25),
        ("router-random-0.5", "random", 0.5),
        ("router-bert-0", "bert", 0.0),
        ("router-bert-1", "bert", 1.0),
        ("router-bert-1e-1", "bert", 0.1),
        ("router-my_router2-0.7", "my_router2", 0.7),
        ("router-nope-0.5", "nope", 0.5),  # any well-formed name: existence is the registry's
    ],
)
def test_routed_names(name: str, router: str | None, threshold: float | None) -> None:
    assert resolve_model(name, SETTINGS) == Resolved(
        routed=True, router=router, threshold=threshold
    )


@pytest.mark.parametrize(
    "name",
    [
        "router-bert-1.5",
        "router-bert--0.1",
        "router-bert-abc",
        "router-bert-nan",
        "router-bert-inf",
        "router-bert-",
        "router-random-2",
        "router-bert-0.5-extra",
    ],
)
def test_bad_thresholds_are_400(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        resolve_model(name, SETTINGS)
    assert (caught.value.status, caught.value.code) == (400, "invalid_threshold")
    assert caught.value.param == "model"
    assert "router-<name>-<threshold>" in caught.value.message


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("up/s1", "up/s1"),
        ("up/anything-else", "up/anything-else"),  # any model of a configured provider
        ("other/org/model", "other/org/model"),  # model names may contain '/'
        ("s1", "up/s1"),  # bare name of exactly one configured provider/model
        ("solo", "other/solo"),
        ("w1", "up/w1"),
    ],
)
def test_direct_names(name: str, ref: str) -> None:
    resolved = resolve_model(name, SETTINGS)
    assert resolved.routed is False and resolved.target is not None
    assert resolved.target.ref == ref
    assert resolved.target.model == ref.split("/", 1)[1]


@pytest.mark.parametrize(
    "name",
    [
        "nope/model",  # provider not configured
        "listed",  # bare name of two providers: ambiguous
        "unknown",
        "up/",
        "router-bad.name-0.5",  # not a router name: looked up as a bare model, not found
        "router-bert",
    ],
)
def test_unknown_names_are_404_listing_what_exists(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        resolve_model(name, SETTINGS)
    error = caught.value
    assert (error.status, error.code) == (404, "model_not_found")
    assert "localrouter/auto" in error.message and "router-<name>-<threshold>" in error.message
    assert error.extra["available"][:2] == ["localrouter/auto", "auto"]


@pytest.mark.parametrize(
    ("tier", "cross", "refs", "tiers"),
    [
        ("strong", True, ["up/s1", "other/s2", "up/w1"], ["strong", "strong", "weak"]),
        ("weak", True, ["up/w1", "up/s1", "other/s2"], ["weak", "strong", "strong"]),
        ("strong", False, ["up/s1", "other/s2"], ["strong", "strong"]),
        ("weak", False, ["up/w1"], ["weak"]),
    ],
)
def test_tier_chain_knows_the_tier_of_each_target(
    tier: str, cross: bool, refs: list[str], tiers: list[str]
) -> None:
    data = SETTINGS.model_dump(mode="json")
    data["routing"]["cross_tier_fallback"] = cross
    chain = tier_chain(parse_settings(data), tier)  # type: ignore[arg-type]
    assert [t.ref for t in chain.targets] == refs
    assert [chain.tier_of(t) for t in chain.targets] == tiers
