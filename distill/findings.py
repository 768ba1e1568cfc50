"""The sentences each notebook's "What we saw" prints, built from its records by one rule.

Every comparison here goes through `distill.experiment.compare` (paired by seed, 95% t interval,
`distill.stats`): a sentence says "A beats B by d points (95% CI lo to hi, n seeds)" only when the
interval excludes 0, and "no clear difference ... at n seeds" otherwise. No function here builds a
comparative from two means. Each function returns Markdown; tests feed them numbers on both sides
of the threshold.
"""

from __future__ import annotations

from typing import Sequence

from .experiment import compare, mean, mean_ci, values  # noqa: F401  (compare: the exercises use it)
from .stats import Comparison


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def table(records: list[dict], rows: Sequence, columns: dict[str, dict], row_key: str,
          value: str = "test_accuracy", **common) -> str:
    """A fixed-width text table: one row per value of `row_key`, one column per named setting,
    each cell the mean over seeds in % with its 95% interval half-width."""
    from .stats import mean_interval
    head = f"{row_key:>8}  " + "  ".join(f"{name:>19}" for name in columns)
    lines = [head]
    for r in rows:
        cells = []
        for match in columns.values():
            v = values(records, value, **common, **{row_key: r}, **match)
            if len(v) > 1:
                m, lo, hi = mean_interval(v)
                cells.append(f"{100 * m:>11.2f} ± {100 * (hi - m):<5.2f}")
            else:
                cells.append(f"{100 * v[0]:>11.2f} (1 seed)")
        lines.append(f"{r:>8}  " + "  ".join(f"{c:>19}" for c in cells))
    return "\n".join(lines)


# ---- 02 · soft targets -------------------------------------------------------------------

def soft_targets(sweep: list[dict], mixed: list[dict], by_size: list[dict], *, small_n: int, sizes: Sequence[int],
                 T_best: float, alpha_best: float, T_at: dict, teacher_acc: float, times_smaller: float) -> str:
    """02's findings. `sweep`: labels, hard and soft (each T) at `small_n`; `mixed`: the alpha sweep
    (method "mixed", alpha 0 and 1 included); `by_size`: labels, hard and soft at the validation-chosen
    `T_at[n]` for every n in `sizes`."""
    soft_small = dict(method="soft", T=T_best)
    vs_labels = compare(sweep, soft_small, dict(method="labels"), ("soft targets", "true labels"))
    vs_hard = compare(sweep, soft_small, dict(method="hard"), ("soft targets", "the teacher's labels"))
    lines = [
        f"- **Temperature.** On {small_n:,} images, validation accuracy (mean over {vs_labels.n} seeds) picked "
        f"**T = {T_best:g}**. Test accuracy: soft targets {mean_ci(values(sweep, method='soft', T=T_best))}, "
        f"true labels {mean_ci(values(sweep, method='labels'))}, the teacher's labels "
        f"{mean_ci(values(sweep, method='hard'))}. {_cap(vs_labels.sentence('beat'))}; {vs_hard.sentence('beat')}."]
    if alpha_best == 1.0:
        lines.append(f"- **Mixing** true labels in: validation picked **alpha = 1** (soft targets alone); "
                     "adding true labels did not raise validation accuracy.")
    else:
        mix = compare(mixed, dict(alpha=alpha_best), dict(alpha=1.0),
                      (f"mixed targets (alpha = {alpha_best:g})", "soft targets alone"))
        lines.append(f"- **Mixing** true labels in: validation picked **alpha = {alpha_best:g}**; on test, {mix.sentence('beat')}.")

    per_n = {n: compare(by_size, dict(method="soft", T=T_at[n]), dict(method="labels"),
                        ("soft targets", "true labels"), n=n) for n in sizes}
    helps = [n for n, c in per_n.items() if c.winner == "soft targets"]
    hurts = [n for n, c in per_n.items() if c.winner == "true labels"]
    small, full = min(sizes), max(sizes)
    where = (f"soft targets beat true labels at {_list(helps)} images" if helps else
             "soft targets beat true labels at no size")
    where += f", true labels beat soft targets at {_list(hurts)}" if hurts else ""
    lines.append(f"- **Where soft targets help** (each size with the temperature validation chose): {where}. "
                 f"At {small:,} images {per_n[small].sentence('beat')}; with all {full:,} images {per_n[full].sentence('beat')}.")

    probs = {n: compare(by_size, dict(method="soft", T=T_at[n]), dict(method="hard"),
                        ("probabilities", "label-only answers"), n=n) for n in (small, full)}
    lines.append(f"- **Probabilities vs. a label-only answer** (both from the teacher): at {small:,} images "
                 f"{probs[small].sentence('beat')}; at {full:,}, {probs[full].sentence('beat')}.")

    faithful = {n: compare(by_size, dict(method="soft", T=T_at[n]), dict(method="labels"),
                           ("soft-target students", "true-label students"), value="test_agreement", n=n) for n in sizes}
    more = [n for n, c in faithful.items() if c.winner == "soft-target students"]
    lines.append(f"- **Fidelity.** Students trained on soft targets agreed with the teacher measurably more often than "
                 f"students trained on true labels at {len(more)} of {len(sizes)} sizes"
                 + (f" ({_list(more)} images): trained on the teacher's outputs, a copy imitates the teacher, "
                    "not only the task." if more else "."))
    lines.append(f"- The teacher itself: {100 * teacher_acc:.2f}%. This student has {times_smaller:.0f}x fewer "
                 "parameters; notebook 03 asks how much of the remaining gap is the student's size and shape.")
    policy = _probabilities_policy(probs[small], probs[full], small, full)
    return "\n".join(lines) + f"\n\n**For policy readers.** {policy}"


def _list(xs: Sequence) -> str:
    xs = [f"{x:,}" if isinstance(x, int) else str(x) for x in xs]
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def _probabilities_policy(small: Comparison, full: Comparison, n_small: int, n_full: int) -> str:
    def short(c: Comparison) -> str:
        return f"{c.diff * 100:+.1f} points, 95% CI {c.lo * 100:.1f} to {c.hi * 100:.1f}, {c.n} seeds"
    if small.winner == "probabilities" and not full.called:
        return (f"Returning probabilities instead of labels gave a copier with {n_small:,} examples a better copy "
                f"({short(small)}) and made no clear difference with {n_full:,}. Hiding probabilities raises the cost of "
                "copying most for copiers with small budgets; notebook 06 measures this through an API.")
    if small.winner == "probabilities" and full.winner == "probabilities":
        return (f"Returning probabilities instead of labels gave a better copy with {n_small:,} examples ({short(small)}) "
                f"and with {n_full:,} ({short(full)})"
                + (": the advantage is largest for copiers with small budgets" if small.diff > full.diff else "")
                + ". Notebook 06 measures the same question through an API.")
    return (f"With {n_small:,} examples, {small.sentence('beat')}; with {n_full:,}, {full.sentence('beat')}. "
            "Notebook 06 measures the same question through an API.")


# ---- 03 · student size and shape ---------------------------------------------------------

FAMILY_NAMES = {"mlp": "MLP", "cnn": "small CNN", "teacher": "teacher-shaped CNN"}


def _copy_name(family: str, size: int, params: dict) -> str:
    return f"{FAMILY_NAMES.get(family, family)} of {params[(family, size)]:,} parameters"


def kept_values(records: list[dict], teacher_acc: float, **match) -> list[float]:
    """Per seed, the fraction of the teacher's test accuracy a setting kept."""
    return [v / teacher_acc for v in values(records, **match)]


def smallest_keeping(records: list[dict], families: dict, params: dict, teacher_acc: float, share: float = 0.9,
                     **match) -> tuple[str, int] | None:
    """The (family, size) with the fewest parameters whose mean test accuracy over seeds keeps at
    least `share` of the teacher's, among `families` ({family: sizes}); None if none does."""
    ok = [(params[(f, s)], f, s) for f, sizes in families.items() for s in sizes
          if select_any(records, family=f, size=s, **match)
          and mean(kept_values(records, teacher_acc, family=f, size=s, **match)) >= share]
    return (min(ok)[1], min(ok)[2]) if ok else None


def closest_pair(params: dict, a_family: str, a_sizes: Sequence[int], b_family: str, b_sizes: Sequence[int]
                 ) -> tuple[int, int]:
    """Sizes (a, b) of two families whose parameter counts are closest (by ratio), the smallest such
    pair on a tie: where a comparison of the two families measures shape, not size."""
    import math
    return min(((abs(math.log(params[(a_family, a)] / params[(b_family, b)])), params[(a_family, a)], a, b)
                for a in a_sizes for b in b_sizes))[2:]


def student_size(runs: list[dict], *, families: dict, regimes: Sequence[int], params: dict, teacher_acc: float,
                 teacher_params: int, cost: dict, mistakes: list[dict], mistakes_at: dict) -> str:
    """03's findings. `runs`: method labels/soft for each family, size (families: {family: sizes})
    and regime n; `params`: {(family, size): parameter count}; `cost`: {(family, size) or "teacher":
    (params, flops, latency 1, latency 1000)}; `mistakes`: records with `same_wrong_answer` at the
    setting `mistakes_at` (family, size, n)."""
    n_big = max(regimes)
    lines = []
    per_family = []
    for f, sizes in families.items():
        sizes = [s for s in sizes if select_any(runs, family=f, size=s, n=n_big)]
        lo, hi = sizes[0], sizes[-1]
        k = {s: mean(kept_values(runs, teacher_acc, family=f, size=s, n=n_big, method="soft")) for s in sizes}
        per_family.append(f"{FAMILY_NAMES.get(f, f)}s from {100 * k[lo]:.1f}% ({params[(f, lo)]:,} parameters)"
                          + (f" to {100 * k[hi]:.1f}% ({params[(f, hi)]:,})" if hi != lo else ""))
    lines.append(f"- **Size and shape.** With all {n_big:,} images, distilled copies kept of the teacher's "
                 f"{100 * teacher_acc:.2f}% test accuracy: {'; '.join(per_family)}.")
    best = smallest_keeping(runs, families, params, teacher_acc, n=n_big, method="soft")
    mlp_best = smallest_keeping(runs, {"mlp": families["mlp"]}, params, teacher_acc, n=n_big, method="soft") \
        if "mlp" in families else None
    if best:
        kept = mean_ci(kept_values(runs, teacher_acc, family=best[0], size=best[1], n=n_big, method="soft"))
        line = (f"- **The smallest copy keeping 90%** of the teacher's accuracy is a {_copy_name(*best, params)}, "
                f"{teacher_params / params[best]:.0f}x fewer than the teacher: it kept {kept} of it.")
        if mlp_best and mlp_best != best:
            line += (f" The smallest MLP doing so has {params[mlp_best]:,} parameters: measuring copies with MLPs alone "
                     f"would overstate the size a copy needs {params[mlp_best] / params[best]:.0f}-fold.")
        elif not mlp_best and "mlp" in families:
            line += " No MLP tried kept 90%."
        lines.append(line)
    else:
        lines.append("- **No copy tried kept 90%** of the teacher's accuracy.")
    if "cnn" in families and "mlp" in families:
        c, m = closest_pair(params, "cnn", families["cnn"], "mlp", families["mlp"])
        cn, mn = _copy_name("cnn", c, params), _copy_name("mlp", m, params)
        for n in regimes:
            shape = compare(runs, dict(family="cnn", size=c), dict(family="mlp", size=m), (f"the {cn}", f"the {mn}"),
                            method="labels", n=n)
            dist = {f: compare(runs, dict(method="soft"), dict(method="labels"), ("distilled", "scratch"),
                               family=f, size=s, n=n) for f, s in (("cnn", c), ("mlp", m))}
            lines.append(f"- **Architecture or distillation?** ({n:,} images, copies of about {params[('cnn', c)]:,} "
                         f"parameters) Shape: trained on true labels, {shape.sentence()}. Distillation: for the CNN, "
                         f"{dist['cnn'].sentence('beat')}; for the MLP, {dist['mlp'].sentence('beat')}.")
    for n in regimes:
        calls: dict = {"distilled": [], "scratch": [], None: []}
        for f, sizes in families.items():
            for s in sizes:
                if select_any(runs, family=f, size=s, n=n):
                    c = compare(runs, dict(method="soft"), dict(method="labels"), ("distilled", "scratch"),
                                family=f, size=s, n=n)
                    calls[c.winner].append(f"{FAMILY_NAMES.get(f, f)} {params[(f, s)]:,}")
        total = sum(len(v) for v in calls.values())
        lines.append(f"- **Distillation vs. scratch, {n:,} images**, over all {total} copies: distilled beat scratch for "
                     f"{len(calls['distilled'])}, scratch beat distilled for {len(calls['scratch'])}, no clear difference "
                     f"for {len(calls[None])}"
                     + (f" (scratch better: {', '.join(calls['scratch'])})" if calls["scratch"] else "") + ".")
    if best:
        lines.append(f"- **Cost.** The {_copy_name(*best, params)} needs {cost[best][1] / cost['teacher'][1]:.2%} of the "
                     f"teacher's FLOPs per image and, on this CPU, {cost[best][3] / cost['teacher'][3]:.1%} of its time "
                     "per 1,000 images (small models are dominated by fixed overhead, so time shrinks less than FLOPs).")
    f, s, n = mistakes_at["family"], mistakes_at["size"], mistakes_at["n"]
    mis = compare(mistakes, dict(method="soft"), dict(method="labels"), ("the distilled copy", "the scratch copy"),
                  value="same_wrong_answer", family=f, size=s, n=n)
    same = {m: mean_ci(values(mistakes, "same_wrong_answer", method=m, family=f, size=s, n=n)) for m in ("soft", "labels")}
    lines.append(f"- **Mistakes.** When a {_copy_name(f, s, params)} ({n:,} images) and the teacher were both wrong, they "
                 f"gave the *same* wrong answer {same['soft']} of the time when distilled and {same['labels']} when "
                 f"trained from scratch, never seeing the teacher's outputs: {mis.sentence('shares more of them than')}. "
                 "Most shared mistakes come from classes that are genuinely hard to tell apart (shirt / T-shirt / "
                 "pullover), whoever is learning.")
    if best:
        kept_pct = 100 * mean(kept_values(runs, teacher_acc, family=best[0], size=best[1], n=n_big, method="soft"))
        policy = (f"A copy {teacher_params / params[best]:.0f} times smaller than the original, of a common design, kept "
                  f"{kept_pct:.0f}% of its accuracy here, at a small fraction of its running cost.")
    else:
        policy = "No copy tried here kept 90% of the original's accuracy."
    policy += (" That a copy makes the same mistakes as the original proves little on its own: independently trained "
               "models make most of the same mistakes.")
    return "\n".join(lines) + "\n\n**For policy readers.** " + policy


def select_any(records: list[dict], **match) -> bool:
    """True when some record matches."""
    from .experiment import select
    return bool(select(records, **match))


def with_shared_mistakes(records: list[dict], teacher_test, y_test) -> list[dict]:
    """The records with `same_wrong_answer` and `p_wrong_given_teacher_wrong` (`distill.metrics.shared_mistakes`)."""
    from .metrics import shared_mistakes
    return [{**r, **shared_mistakes(r["test_logits"], teacher_test, y_test)} for r in records]
