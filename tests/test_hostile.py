"""The hostile-case suite (benchmarks/reliability.py): every case ends clean or as a handled
one-line error, loses nothing silently and writes nothing outside the directory it was given."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("reliability", Path(__file__).resolve().parents[1] / "benchmarks" / "reliability.py")
reliability = importlib.util.module_from_spec(SPEC)
sys.modules["reliability"] = reliability
SPEC.loader.exec_module(reliability)
CASES = reliability.cases()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    pytest.importorskip("torch")
    base = tmp_path_factory.mktemp("hostile")
    env = reliability.environment()
    return base, reliability.shared_runs(base, env), env


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(world, case):
    base, runs, env = world
    result = reliability.run_case(case, base, runs, env)
    assert result.outcome in ("clean", "handled"), f"{result.outcome}: {result.stderr[-2000:]}"
    assert not result.lost, result.lost
    assert not result.outside, "wrote outside the directory it was given"


def test_the_suite_covers_every_category_the_issue_names():
    assert {"bytes", "huge", "unicode", "empty", "config", "numbers", "outputs", "faults", "concurrency",
            "divergence"} <= {c.category for c in CASES}
