"""The command line: JSON out, one clear line and exit 2 on bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cache=None):
    env = dict(os.environ, TQDM_DISABLE="1")
    if cache:
        env["DISTILL_CACHE"] = str(cache)
    return subprocess.run([sys.executable, "-m", "distill", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_evaluate_without_arguments_scores_the_committed_teacher(tmp_path):
    r = run("evaluate", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    manifest = json.loads((ROOT / "data" / "teacher.json").read_text())
    assert out["architecture"] == "teacher_cnn" and out["split"] == "test"
    assert out["accuracy"] == pytest.approx(manifest["test_accuracy"], abs=1e-4)


def test_student_prints_accuracy_agreement_params_seconds(tmp_path):
    r = run("student", "--method", "soft", "-T", "4", "--width", "16", "--epochs", "20", "--train-size", "500",
            "--out", str(tmp_path / "s"), cache=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"accuracy", "agreement", "params", "seconds", "ece"}
    assert 0.3 < out["accuracy"] <= 1 and 0.3 < out["agreement"] <= 1
    assert out["params"] == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    r = run("evaluate", "--checkpoint", str(tmp_path / "s"), cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(out["accuracy"], abs=1e-6)


@pytest.mark.parametrize("args, expected", [
    (["student", "--temperature", "0"], "temperature must be a finite number > 0"),
    (["student", "--alpha", "1.5"], "alpha must be in [0, 1]"),
    (["student", "--method", "magic"], "unknown method 'magic'"),
    (["student", "--width", "0"], "--size 0 is outside copier family 'mlp'"),
    (["student", "--transfer-size", "99999999", "--method", "labels"], "99999999 were asked for"),
    (["evaluate", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["student", "--transfer-set", "books"], "unknown transfer set 'books'"),
    (["student", "--transfer-set", "heldout", "--transfer-size", "6000"], "has 5000 images, 6000 were asked for"),
    (["student", "--exclude-class", "10"], "class 10 is out of range"),
    (["student", "--transfer-set", "noise", "--exclude-class", "1"], "exclude_class applies to sets drawn from"),
    (["student", "--transfer-set", "digits", "--method", "labels"], "only --transfer-set train has"),
    (["evaluate", "--checkpoint", "no/such/file"], "no checkpoint manifest at no/such/file.json"),
    (["evaluate", "--device", "cuda:banana"], "unknown device"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_clear_line_and_exit_2(args, expected):
    r = run(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("distill: error:") and expected in lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_student_with_a_withheld_class_reports_its_accuracy(tmp_path):
    r = run("student", "--transfer-set", "train", "--transfer-size", "800", "--exclude-class", "1", "--method", "hard",
            "--epochs", "2", "--width", "16", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["exclude_class"] == 1 and out["transfer_size"] == 800 and 0 <= out["excluded_class_accuracy"] <= 1


def test_student_from_noise_queries(tmp_path):
    r = run("student", "--transfer-set", "noise", "--transfer-size", "300", "--method", "soft", "--epochs", "2",
            "--width", "8", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["transfer_set"] == "noise"


def test_lm_commands_print_json():
    r = run("lm-ask", "999+1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) | {} == {"problem": "999+1", "prompt": "999+001=", "generated": "0001",
                                         "answer": 1000, "correct": True}
    r = run("lm-student", "--output", "topk", "--queries", "200", "--steps", "20", "--d-model", "16")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kind"] == "topk" and out["queries"] == 200 and 0 <= out["exact_match"] <= 1
    assert out["tokens_returned"] == 200 * 4 * (1 + 2 * 3)  # text plus 3 (id, logprob) pairs per token


@pytest.mark.parametrize("args, message", [
    (("lm-ask", "12x+4"), "is not a problem of the form A+B"),
    (("lm-ask", "1234+5"), "is not a problem of the form A+B"),
    (("lm-student", "--output", "topk", "--sample"), "--sample applies to --output text only"),
    (("lm-student", "--queries", "0"), "--queries must be at least 1"),
    (("lm-student", "--queries", "2000000"), "the train split has 996000 problems"),
    (("lm-student", "-T", "0"), "temperature must be a finite number > 0"),
])
def test_lm_bad_input_is_one_clear_line(args, message):
    r = run(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
