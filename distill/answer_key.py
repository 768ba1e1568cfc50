"""The expected answers of every notebook's "Check yourself" exercises, computed from the notebook's
own variables when its check runs (`distill.exercises.check_answer`).

They live here, not in the notebooks, so that the students' copy (`make student-copy`) shows no
expected value anywhere: a check cell reads `exercises.check_answer("06.1", answer_1, globals())`.
Each entry: a function of the notebook's namespace, the hint a student sees, and the tolerance.
Because the expected value is computed from the run in front of the student, a smoke run checks
against smoke numbers and a full run against full ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .experiment import mean as _avg
from .experiment import values as _values
from .registry import Registry


class AnyOf(tuple):
    """Several right answers (e.g. the settings tied for best): an answer matching any of them passes."""


@dataclass(frozen=True)
class Answer:
    expected: Callable[[dict], Any]   # the notebook's namespace -> the right answer
    hint: str
    rel: float = 1e-3
    share: bool = False               # the answer is a share between 0 and 1 (a percentage is a typical slip)


ANSWERS = Registry("exercise")


def _diff(records, a, b, value="test_accuracy", **common):
    return _avg(_values(records, value, **common, **a)) - _avg(_values(records, value, **common, **b))


def _argmax(pairs, best=max):
    """Every key whose value is the best (ties are all right answers)."""
    pairs = list(pairs)
    top = best(v for v, _ in pairs)
    return AnyOf(k for v, k in pairs if abs(v - top) <= 1e-12)


ANSWERS.register("01.1", Answer(lambda ns: True, "dividing every logit by the same positive T keeps their order; "
                                "compare argmax(1) at both temperatures"))
ANSWERS.register("01.2", Answer(lambda ns: (ns["torch"].softmax(ns["logits_test"], dim=-1).amax(-1) > 0.99).double().mean().item(),
                                "softmax over the classes, the largest probability per image, then the share above 0.99",
                                share=True))
ANSWERS.register("02.1", Answer(lambda ns: 100 * _diff(ns["by_size"], {"method": "soft"}, {"method": "labels"}, n=ns["SIZES"][0]),
                                "mean accuracy of 'soft' minus mean accuracy of 'labels', times 100"))
ANSWERS.register("02.2", Answer(lambda ns: _argmax((_diff(ns["by_size"], {"method": "soft"}, {"method": "labels"}, n=n), n)
                                                   for n in ns["SIZES"]),
                                "for each size, the mean of 'soft' minus the mean of 'labels'; take the size where it is largest"))


def _smallest_mlp(ns):
    from .findings import smallest_keeping
    found = smallest_keeping(ns["runs"], {"mlp": ns["FAMILIES"]["mlp"]}, ns["params"], ns["teacher_acc"],
                             n=max(ns["REGIMES"]), method="soft")
    return (found or (None, 0))[1]


def _cnn_ratio(ns):
    small = ns["make_copier"]("cnn", min(ns["FAMILIES"]["cnn"]), input_shape=ns["ds"].input_shape)
    return ns["manifest"]["params"] / sum(p.numel() for p in small.parameters())


ANSWERS.register("03.1", Answer(_smallest_mlp, "compare each size's mean test accuracy with 0.9 times the teacher's; "
                                "the sizes are sorted"))
ANSWERS.register("03.2", Answer(_cnn_ratio, "divide the teacher's parameter count by the copy's", rel=1e-2))


def _best_source(ns):
    from .findings import best_size
    runs = ns["runs"]
    return _argmax((_avg(_values(runs, source=s, family="mlp", n=best_size(runs, ns["sizes"][s], source=s, family="mlp"))), s)
                   for s in ns["SOURCES"])


ANSWERS.register("04.1", Answer(_best_source, "for each source, the mean test accuracy at the size validation chose"))
ANSWERS.register("04.2", Answer(lambda ns: len([s for s in ns["SOURCES"] if max(
    _avg(_values(ns["runs"], source=s, family="mlp", n=n)) for n in ns["sizes"][s]) < 0.2]),
    "count the sources whose mean accuracy stays under 0.20 at every size"))
ANSWERS.register("05.1", Answer(lambda ns: _names(ns["ds"].classes, _argmax(
    (_avg(_values(ns["rows"], "withheld_corrected", method="soft", **{"class": c})), c) for c in ns["CLASSES"])),
    "average each class's soft+bias accuracy over seeds and take the largest"))


def _names(classes, best):
    return AnyOf(classes[c] for c in best)


def _two_class_winner(ns):
    from .stats import paired
    size = max(ns["TWO_SIZES"])
    c = paired(_values(ns["two"], "withheld_corrected", method="hard", size=size),
               _values(ns["two"], "withheld_corrected", method="soft", size=size), ("hard", "soft"))
    return c.winner == "soft"


ANSWERS.register("05.2", Answer(_two_class_winner, "compare soft with hard at the larger size on 'withheld_corrected' "
                                "and look at `.winner`"))
ANSWERS.register("06.1", Answer(lambda ns: _avg(_values(ns["runs"], source="train", output="label", family="mlp",
                                                        n=ns["BUDGETS"][-1])) / ns["teacher_acc"],
                                "average the copy's test accuracies over seeds, then divide by teacher_acc", share=True))
ANSWERS.register("06.2", Answer(lambda ns: _argmax((_avg(_values(ns["runs"], source="train", output=o, family="mlp",
                                                                 n=ns["BUDGETS"][0])), o) for o in ns["COPIER_FORMATS"]["mlp"]),
                                "compare the mean test accuracy of each format at BUDGETS[0]"))
ANSWERS.register("07.1", Answer(lambda ns: ns["monitors"]["reference"].flag_rate(ns["clients"]["honest users (test images)"]),
                                "`flagged[(test, client)]` is the share of a client's streams a monitor flagged", share=True))
ANSWERS.register("07.2", Answer(lambda ns: _argmax(((ns["flagged"]["reference", f"copier: {a}"], a) for a in ns["ATTACKS"]), min),
                                "look up flagged['reference', f'copier: {a}'] for each attack a"))
ANSWERS.register("08.1", Answer(lambda ns: _argmax((_avg(_values(ns["runs"], "exact_match", kind=k, n=ns["BUDGETS"][-1])), k)
                                                   for k in ns["TRAINED"]),
                                "average each kind's exact match over seeds at the largest budget"))
ANSWERS.register("08.2", Answer(lambda ns: ns["task"].answer_len * (1 + len(ns["lm"].VOCAB)),
                                "one character id plus a probability for each of the vocabulary's characters, per answer character"))
ANSWERS.register("09.1", Answer(lambda ns: _avg(_values(ns["runs"], strategy="active", output="label", n=ns["BUDGETS"][-1])),
                                "average the test accuracies of the active, label-only copies at BUDGETS[-1]", share=True))
ANSWERS.register("09.2", Answer(lambda ns: max(ns["GENERATOR_BUDGETS"]),
                                "every strategy spends its budget exactly: look at GENERATOR_BUDGETS"))
