"""Bad input, tried as a careless or hurried user would: every case is a one-line DistillError (exit
code 2 from the CLI), never another exception and never a silent success.

Property-based (Hypothesis) over the CLI's numeric options and the public functions, plus a table of
the cases found by hand."""
import math
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from distill.__main__ import main
from distill.errors import DistillError

from conftest import ROOT

FAST = hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def cli(capsys, *args) -> tuple[int, list[str]]:
    """Run the CLI in this process; (exit code, stderr lines). argparse's own errors exit via SystemExit."""
    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def one_line_exit_2(capsys, *args):
    code, err = cli(capsys, *args)
    assert code == 2 and len(err) == 1 and err[0].startswith("distill: error:"), (args, code, err)


not_positive = st.one_of(st.floats(max_value=0), st.just(float("nan")), st.just(float("inf")))
bad_alpha = st.one_of(st.floats(max_value=-1e-9, allow_nan=False), st.floats(min_value=1 + 1e-9), st.just(float("nan")))
bad_seed = st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32))


@FAST
@given(T=not_positive)
def test_cli_rejects_every_non_positive_or_non_finite_temperature(capsys, T):
    one_line_exit_2(capsys, "student", "--temperature", repr(T))


@FAST
@given(alpha=bad_alpha)
def test_cli_rejects_alpha_outside_0_1(capsys, alpha):
    one_line_exit_2(capsys, "student", "--method", "mixed", "--alpha", repr(alpha))


@FAST
@given(seed=bad_seed)
def test_cli_rejects_seeds_out_of_range(capsys, seed):
    one_line_exit_2(capsys, "student", "--seed", str(seed))


@FAST
@given(arch=st.sampled_from(["mlp", "cnn", "teacher"]), size=st.one_of(st.integers(max_value=1), st.integers(min_value=2049)))
def test_cli_rejects_sizes_outside_each_family(capsys, arch, size):
    one_line_exit_2(capsys, "student", "--arch", arch, "--size", str(size))


@FAST
@given(lr=not_positive, which=st.sampled_from(["student", "teacher"]))
def test_cli_rejects_bad_learning_rates(capsys, lr, which):
    one_line_exit_2(capsys, which, "--lr", repr(lr))


@FAST
@given(name=st.text(min_size=1, max_size=12).filter(lambda s: s not in ("labels", "hard", "soft", "mixed", "mse", "probs")
                                                     and not s.startswith("-")))
def test_cli_rejects_unknown_method_names(capsys, name):
    one_line_exit_2(capsys, "student", "--method", name)


@FAST
@given(T=not_positive)
def test_library_temperatures(T):
    from distill.losses import kd_loss, soft_targets
    for call in (lambda: kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), T), lambda: soft_targets(torch.zeros(3), T)):
        with pytest.raises(DistillError):
            call()


@FAST
@given(n=st.integers(max_value=0))
def test_library_transfer_set_sizes(fashion, n):
    from distill.data import make_transfer_set
    with pytest.raises(DistillError, match="at least 1"):
        make_transfer_set("noise", fashion, n)


@FAST
@given(budget=st.one_of(st.integers(max_value=-1), st.floats(), st.text(max_size=3)))
def test_library_api_budgets(budget):
    from distill.api import TeacherAPI
    from distill.models import make_copier
    with pytest.raises(DistillError, match="budget"):
        TeacherAPI(make_copier("cnn", 2), budget=budget)


@FAST
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 40), st.integers(1, 40)).filter(lambda s: s != (1, 28, 28)))
def test_library_api_image_shapes(shape):
    from distill.api import TeacherAPI
    from distill.models import make_copier
    with pytest.raises(DistillError):
        TeacherAPI(make_copier("cnn", 2), cache=False).query(torch.zeros(2, *shape))


@FAST
@given(labels=st.lists(st.one_of(st.integers(-2**62, -1), st.integers(10, 2**62)), min_size=1, max_size=5))
def test_library_labels_out_of_range(labels):
    from distill.recipes import train_student
    y = torch.tensor(labels + [0] * 3)
    with pytest.raises(DistillError, match="class indices from 0 to 9"):
        train_student(torch.zeros(len(y), 1, 28, 28), "labels", y=y)


# ---- the cases found by hand ----------------------------------------------------------------------

def run_env(env: dict, *args) -> subprocess.CompletedProcess:
    import os
    return subprocess.run([sys.executable, "-m", "distill", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=120)


@pytest.mark.parametrize("env, args, message", [
    ({"DISTILL_CACHE": ""}, ("data",), "DISTILL_CACHE is set but empty"),
    ({"DISTILL_DATA": "README.md"}, ("data",), "is a file, not a folder"),
    ({"DISTILL_THREADS": "many"}, ("data",), "DISTILL_THREADS='many'"),
    ({}, ("student", "-T", "inf"), "temperature must be a finite number > 0"),
    ({}, ("student", "--seed", str(2**70)), "--seed must be from 0 to"),
    ({}, ("student", "--width", "100000000"), "outside copier family 'mlp'"),
    ({}, ("student", "--out", "/proc/no/such/place/model"), "cannot write to /proc/no/such/place"),
    ({}, ("evaluate", "--checkpoint", "data/lm_teacher"), "is a language model"),
    ({}, ("lm-student", "--digits", "0"), "unrecognized arguments"),
])
def test_hand_found_cases_are_one_line(env, args, message):
    r = run_env(env, *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr[-500:]


def test_smoke_switch_spellings(monkeypatch):
    from distill import settings
    for raw, want in (("1", True), ("yes", True), ("TRUE", True), ("0", False), ("off", False), ("", False)):
        monkeypatch.setenv("DISTILL_SMOKE", raw)
        assert settings.smoke() is want
    monkeypatch.setenv("DISTILL_SMOKE", "maybe")
    with pytest.raises(DistillError, match="DISTILL_SMOKE='maybe' is not a true/false value"):
        settings.smoke()


def test_library_hand_found_cases(fashion):
    from distill.api import TeacherAPI
    from distill.lm import LMConfig, generate, make_lm
    from distill.models import make_copier
    from distill.recipes import train_student
    lm = make_lm(LMConfig(d_model=16, n_layers=1, n_heads=2))
    lm.train()
    with pytest.raises(DistillError, match="n_tokens must be at least 1"):
        generate(lm, torch.zeros(2, 4, dtype=torch.long), 0)
    with pytest.raises(DistillError, match="finite number >= 0"):
        generate(lm, torch.zeros(2, 4, dtype=torch.long), 2, temperature=math.nan)
    generate(lm, torch.zeros(2, 4, dtype=torch.long), 2)
    assert lm.training  # generation restores the mode it found
    with pytest.raises(DistillError, match="empty batch"):
        TeacherAPI(make_copier("cnn", 2), cache=False).query(torch.zeros(0, 1, 28, 28))
    t = torch.randn(20, 10)
    t[3, 3] = math.nan
    with pytest.raises(DistillError, match="NaN or infinite values in 1 rows"):
        train_student(fashion.X_train[:20], "soft", teacher_logits=t)
    with pytest.raises(DistillError, match="training set is empty"):
        train_student(fashion.X_train[:0], "labels", y=fashion.y_train[:0])
