"""The benchmark's bookkeeping (targets, table), not its timings: benchmarks are never timed tests."""

from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    return load_script("bench/run.py")


def test_check_targets_both_directions(bench):
    assert bench.check("data_path.speedup", 12.0)["met"]
    miss = bench.check("data_path.speedup", 5.0)
    assert not miss["met"] and miss["by"] == "50% below the target"
    assert bench.check("series.peak_rss_mb", 3000)["met"]
    assert bench.check("contention.slowdown", 1.5)["met"] and not bench.check("contention.slowdown", 2.5)["met"]
    over = bench.check("series.peak_rss_mb", 3 * 1024 * 1.5)
    assert not over["met"] and over["by"] == "50% above the target"


def test_series_targets_sum_notebooks_and_skip_failures(bench):
    r = {"quick": False, "notebooks": {
        "01_a": {"smoke": {"ok": True, "seconds": 10, "peak_rss_mb": 500}, "full": {"ok": True, "seconds": 100, "peak_rss_mb": 900}},
        "02_b": {"smoke": {"ok": True, "seconds": 20, "peak_rss_mb": 700}, "full": {"ok": False, "error": "boom"}}}}
    t = bench.targets(r)
    assert t["series.smoke_seconds"]["value"] == 30 and t["series.smoke_seconds"]["met"]
    assert "series.full_seconds" not in t  # a failed notebook makes the series total unknown, not smaller
    assert t["series.peak_rss_mb"]["value"] == 900 and r["series"] == {"smoke_seconds": 30}
    text = bench.table(r | {"targets": t})
    assert any(line.startswith("02_b (full)") and "FAILED" in line and "boom" in line for line in text.splitlines())


def test_make_bench_is_not_part_of_make_test():
    makefile = (ROOT / "Makefile").read_text()
    test_line = next(l for l in makefile.splitlines() if l.startswith("test:"))
    assert "bench" not in test_line


def test_conclusions_count_the_verdicts_a_rerun_keeps():
    from conftest import load_script
    c = load_script("bench/conclusions.py")
    nb = {"cells": [{"outputs": [{"metadata": {"distill_verdicts": [
        {"key": "a vs b", "winner": "a"}, {"key": "c vs d", "winner": None}, {"key": "e vs f", "winner": "f"}]}}]}]}
    before = c.verdicts_of(nb)
    assert before == {"a vs b": "a", "c vs d": None, "e vs f": "f"}
    after = {"a vs b": "a", "c vs d": "d"}   # one flipped to a call, one not compared at all
    h = c.held(before, after)
    assert (h["held"], h["total"], h["reversed"]) == (1, 3, 0)
    assert {x["key"] for x in h["changed"]} == {"c vs d", "e vs f"}
    assert c.held(before, {"a vs b": "b", "c vs d": "c", "e vs f": None})["reversed"] == 1  # only a vs b reversed


def test_conclusions_from_reruns_saved_elsewhere_leave_out_what_was_not_rerun(tmp_path):
    import json
    from conftest import load_script
    c = load_script("bench/conclusions.py")

    def nb(verdicts):
        return json.dumps({"cells": [{"outputs": [{"metadata": {"distill_verdicts": [
            {"key": k, "winner": w} for k, w in verdicts.items()]}}]}]})
    (tmp_path / "committed").mkdir()
    (tmp_path / "reruns").mkdir()
    (tmp_path / "committed" / "01_a.ipynb").write_text(nb({"x": "a", "y": None}))
    (tmp_path / "committed" / "02_b.ipynb").write_text(nb({"z": "b"}))
    (tmp_path / "reruns" / "01_a.ipynb").write_text(nb({"x": "a", "y": "b"}))
    r = c.compare_saved(sorted((tmp_path / "committed").glob("*.ipynb")), tmp_path / "reruns", 1000, log=lambda *a: None)
    assert (r["held"], r["total"], r["reversed"]) == (1, 2, 0) and r["changed"][0]["key"] == "y"
    assert r["per_notebook"]["02_b"] == {"ok": False, "error": "not re-run", "total": 1, "held": 0}


def test_verdict_keys_ignore_seeds_and_validation_choices():
    from distill.experiment import verdict_key
    assert verdict_key({"method": "soft", "T": 4}, {"method": "labels"}, "test_accuracy", {"n": 250}) == \
        verdict_key({"method": "soft", "T": 1}, {"method": "labels"}, "test_accuracy", {"n": 250})


def test_seed_offset_shifts_every_notebooks_seeds(monkeypatch):
    import pytest
    from distill import settings
    from distill.errors import DistillError
    assert settings.seeds(3) == [0, 1, 2]
    monkeypatch.setenv("DISTILL_SEED_OFFSET", "1000")
    assert settings.seeds(3) == [1000, 1001, 1002]
    monkeypatch.setenv("DISTILL_SEED_OFFSET", "-1")
    with pytest.raises(DistillError, match="whole number"):
        settings.seeds(3)


def test_figures_from_two_machines_are_not_merged_into_one_file(bench):
    a = {"cpu": "AMD EPYC", "cpu_threads": 2, "bf16_instructions": True, "torch": "2.14.1", "device": "cpu", "gpu": None}
    assert bench.same_machine(a, dict(a))
    assert not bench.same_machine(a, {**a, "bf16_instructions": False})  # same name, another CPU generation
    assert not bench.same_machine(a, {**a, "cpu_threads": 4})
