"""The tiny language model: tokenizer, task, causal mask, scoring, and what each copier sees."""
import pytest
import torch

from distill.errors import DistillError
from distill.lm import (OUTPUTS, TOKENIZER, AdditionTask, LMAnswers, LMConfig, TinyLM, answer_targets, digit_accuracy,
                        exact_match, generate, inputs_for, teacher_answers, well_formed)

TASK = AdditionTask(digits=3, n_test=100, n_val=100)
SMALL = LMConfig(d_model=16, n_layers=1, n_heads=2)


def test_tokenizer_round_trip_and_errors():
    for text in ["123+045=8610", "0", "=+", ""]:
        assert TOKENIZER.decode(TOKENIZER.encode(text)) == text
    assert TOKENIZER.encode("10+=").tolist() == [1, 0, 10, 11]
    with pytest.raises(DistillError, match=r"'ax' are not in the vocabulary"):
        TOKENIZER.encode("1a+x")
    with pytest.raises(DistillError, match="outside the vocabulary"):
        TOKENIZER.decode([3, 12])


def test_prompt_and_reversed_answer_by_hand():
    a, b = torch.tensor([123, 999]), torch.tensor([45, 1])
    assert [TOKENIZER.decode(p) for p in TASK.prompts(a, b)] == ["123+045=", "999+001="]
    assert [TOKENIZER.decode(p) for p in TASK.answers(a, b)] == ["8610", "0001"]  # 168 -> 0168 reversed; 1000
    assert TASK.read_answer(TASK.answers(a, b)).tolist() == [168, 1000]
    assert TASK.read_answer(torch.tensor([[1, 2, 10, 3]])).tolist() == [-1]


def test_working_format_by_hand_and_scored_on_the_sum_only():
    task = AdditionTask(digits=3, n_test=100, n_val=100, working=True)
    a, b = torch.tensor([123, 999, 456]), torch.tensor([89, 1, 544])
    # carries out of the units, tens and hundreds: 3+9=12 -> 1; 2+8+1=11 -> 1; 1+0+1=2 -> 0, and so on
    assert [TOKENIZER.decode(x) for x in task.answers(a, b)] == ["110" + "2120", "111" + "0001", "111" + "0001"]
    assert task.answer_len == 7 and task.read_answer(task.answers(a, b)).tolist() == [212, 1000, 1000]
    out = task.answers(a, b).clone()
    out[0, 0] = 0                     # wrong working, right sum: still exact
    out[1, 3] = 5                     # right working, wrong sum digit
    assert exact_match(out, a, b, task) == pytest.approx(2 / 3)
    assert digit_accuracy(out, a, b, task) == pytest.approx(11 / 12)


def test_splits_are_disjoint_and_cover_every_problem():
    task = AdditionTask(digits=2, n_test=50, n_val=30)
    ids = {name: set((a * 100 + b).tolist()) for name in ("test", "val", "train") for a, b in [task.split(name)]}
    assert len(ids["test"]) == 50 and len(ids["val"]) == 30 and len(ids["train"]) == 10_000 - 80
    assert not ids["test"] & ids["train"] and not ids["val"] & ids["train"] and not ids["test"] & ids["val"]
    a, b = task.sample(20, seed=1)
    assert set((a * 100 + b).tolist()) <= ids["train"] and len(set((a * 100 + b).tolist())) == 20


def test_parse_accepts_problems_and_rejects_malformed_ones():
    assert TASK.parse("123+45") == (123, 45) and TASK.parse(" 7 + 8 = ") == (7, 8)
    for bad in ["123-45", "1234+5", "12+", "abc", "1+2+3"]:
        with pytest.raises(DistillError, match="is not a problem of the form A\\+B"):
            TASK.parse(bad)


def test_causal_mask_no_token_sees_the_future():
    torch.manual_seed(0)
    model = TinyLM(SMALL).eval()
    x = torch.randint(12, (4, 11))
    y = x.clone()
    y[:, 6:] = torch.randint(12, (4, 5))  # change every token from position 6 on
    with torch.no_grad():
        lx, ly = model(x), model(y)
    assert torch.allclose(lx[:, :6], ly[:, :6], atol=1e-6)
    assert not torch.allclose(lx[:, 6:], ly[:, 6:])
    with pytest.raises(DistillError, match="exceeds the context"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_scoring_by_hand():
    a, b = torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 3, 4])
    right = TASK.answers(a, b)
    out = right.clone()
    out[1, 0] = (out[1, 0] + 1) % 10  # one wrong digit
    out[2, :] = 10                    # not digits at all
    assert exact_match(out, a, b, TASK) == 0.5
    assert digit_accuracy(out, a, b, TASK) == pytest.approx((16 - 1 - 4) / 16)
    assert well_formed(out) == 0.75


def test_generate_greedy_is_stepwise_argmax_and_sampling_is_seeded():
    torch.manual_seed(0)
    model = TinyLM(SMALL).eval()
    prompts = TASK.prompts(*TASK.sample(8))
    ids, probs = generate(model, prompts, 4, return_probs=True)
    seq = prompts
    with torch.no_grad():
        for t in range(4):
            p = model(seq)[:, -1].softmax(-1)
            assert torch.allclose(p, probs[:, t], atol=1e-6)
            seq = torch.cat([seq, p.argmax(-1, keepdim=True)], 1)
    assert torch.equal(ids, seq[:, -4:])
    s1, s2 = generate(model, prompts, 4, 1.0, seed=3), generate(model, prompts, 4, 1.0, seed=3)
    assert torch.equal(s1, s2)


def test_each_copier_is_fed_nothing_richer_than_its_output_kind():
    torch.manual_seed(0)
    model = TinyLM(SMALL).eval()
    prompts = TASK.prompts(*TASK.sample(16))
    for kind in OUTPUTS:
        ans = teacher_answers(model, prompts, kind, TASK.answer_len, k=3)
        present = {f for f in ("topk_ids", "topk_logprobs", "probs") if getattr(ans, f) is not None}
        assert present == {"sampled": set(), "text": set(), "topk": {"topk_ids", "topk_logprobs"},
                           "full": {"probs"}}[kind]
        t = answer_targets(ans)
        if kind in ("sampled", "text"):
            assert t.dtype == torch.int64 and t.shape == (16, 4)  # tokens, nothing more
        else:
            assert t.shape == (16, 4, 12) and torch.allclose(t.sum(-1), torch.ones(16, 4))
    # top-k targets depend only on the k returned values: two distributions that agree on their
    # top 3 give the same targets
    def topk_answer(p):
        top_p, top_i = p.topk(3, -1)
        return LMAnswers("topk", p.argmax(-1), topk_ids=top_i, topk_logprobs=top_p.log())
    p1 = torch.tensor([[[0.5, 0.3, 0.15, 0.05] + [0.0] * 8]])
    p2 = torch.tensor([[[0.5, 0.3, 0.15, 0.0, 0.05] + [0.0] * 7]])
    t1, t2 = answer_targets(topk_answer(p1)), answer_targets(topk_answer(p2))
    assert torch.allclose(t1, t2)
    assert t1[0, 0, 3].item() == pytest.approx(0.05 / 9, rel=1e-5)


def test_teacher_forcing_inputs():
    prompts = TOKENIZER.encode("12+34=")[None]
    answer = TOKENIZER.encode("640")[None]
    assert TOKENIZER.decode(inputs_for(prompts, answer)[0]) == "12+34=64"


def test_lm_checkpoint_round_trip(tmp_path):
    from distill.checkpoints import load_checkpoint, save_checkpoint
    torch.manual_seed(0)
    model = TinyLM(SMALL)
    save_checkpoint(model, tmp_path / "lm", task={"digits": 3})
    loaded, manifest = load_checkpoint(tmp_path / "lm", architecture="tiny_lm")
    assert manifest["config"]["d_model"] == 16
    x = torch.randint(12, (2, 11))
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))


def test_lm_teacher_manifest_records_the_settings_actually_used(tmp_path):
    from distill.checkpoints import read_manifest
    from distill.lm import AdditionTask, LMConfig, save_lm_teacher, train_lm_teacher
    task = AdditionTask(digits=2, n_test=50, n_val=50)
    model, hist = train_lm_teacher(task, LMConfig(d_model=16, n_layers=1, n_heads=2), steps=3, batch_size=17,
                                   lr=0.01, seed=4, progress=False)
    save_lm_teacher(model, task, hist, 3, 4, tmp_path / "lm")
    cfg = read_manifest(tmp_path / "lm")["train_config"]
    assert (cfg["steps"], cfg["batch_size"], cfg["lr"], cfg["seed"]) == (3, 17, 0.01, 4)


def test_students_trained_at_once_match_students_trained_alone():
    """`student_records` trains the seeds together (vmap); each ends as training it alone would leave it."""
    from distill.lm import make_lm, student_records, teacher_answers, train_lm
    task = AdditionTask(digits=2, n_test=50, n_val=50)
    teacher = make_lm(LMConfig(d_model=16, n_layers=1, n_heads=2), seed=0)
    a, b = task.sample(64, seed=1)
    prompts = task.prompts(a, b)
    answers = teacher_answers(teacher, prompts, "full", task.answer_len)
    cfg = LMConfig(d_model=16, n_layers=1, n_heads=2)
    recs = student_records(task, prompts, answers, cfg, seeds=[3, 4], steps=5, batch_size=16, T=2.0, keep_models=True)
    for rec in recs:
        alone = make_lm(cfg, rec["seed"])
        train_lm(alone, prompts, answer_targets(answers), steps=5, batch_size=16, T=2.0, seed=rec["seed"])
        for p, q in zip(rec["model"].parameters(), alone.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)  # float sums in another order; Adam amplifies tiny gradients
    assert [r["seed"] for r in recs] == [3, 4] and all(r["n"] == 64 for r in recs)


def test_carry_count_and_scores_on_subsets():
    from distill import lm
    task = lm.AdditionTask(digits=3)
    a, b = torch.tensor([123, 999, 500]), torch.tensor([45, 1, 499])
    assert lm.carry_count(task, a, b).tolist() == [0, 3, 0]   # 123+45: none; 999+1: three; 500+499: none

    import distill.lm as L
    powers = torch.tensor([100, 10, 1])

    def fake_generate(model, prompts, n):  # "right" answers every prompt correctly, "bad" writes no digits
        pa, pb = (prompts[:, :3] * powers).sum(1), (prompts[:, 4:7] * powers).sum(1)
        right = task.answers(pa, pb)
        return right if model == "right" else torch.full_like(right, 10)

    orig = L.generate
    try:
        L.generate = fake_generate
        s = lm.scores_on("right", task, a, b)
        assert s == {"exact_match": 1.0, "digit_accuracy": 1.0, "well_formed": 1.0, "n": 3}
        bad = lm.scores_on("bad", task, a, b)
        assert bad["exact_match"] == 0.0 and bad["well_formed"] == 0.0
        recs = lm.with_scores_on([{"seed": 0, "model": "right"}], task, {"hard": (a[1:2], b[1:2])})
        assert recs[0]["exact_match_hard"] == 1.0 and recs[0]["well_formed_hard"] == 1.0
    finally:
        L.generate = orig
    with pytest.raises(DistillError, match="keep_models=True"):
        lm.with_scores_on([{"seed": 0}], task, {"hard": (a, b)})
    with pytest.raises(DistillError, match="same, non-zero number"):
        lm.scores_on("right", task, a[:0], b[:0])
