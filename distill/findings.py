"""The sentences each notebook's "What we saw" prints, built from its records by one rule.

Every comparison here goes through `distill.experiment.compare` (paired by seed, 95% t interval,
`distill.stats`): a sentence says "A beats B by d points (95% CI lo to hi, n seeds)" only when the
interval excludes 0, and "no clear difference ... at n seeds" otherwise. No function here builds a
comparative from two means. Each function returns Markdown; tests feed them numbers on both sides
of the threshold.
"""

from __future__ import annotations

from typing import Sequence

from .errors import DistillError
from .experiment import compare, mean, mean_ci, select, values  # noqa: F401  (compare: the exercises use it)
from .stats import Comparison, mean_interval  # noqa: F401  (mean_interval: for the notebooks' error bars)


def show(markdown: str) -> None:
    """Display a notebook's findings, with the verdict of every comparison behind them in the
    output's metadata (`distill_verdicts`: invisible on the page, read by bench/conclusions.py)."""
    from IPython.display import Markdown, display
    from .experiment import take_verdicts
    display(Markdown(markdown), metadata={"distill_verdicts": take_verdicts()})


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def table(records: list[dict], rows: Sequence, columns: dict[str, dict], row_key: str,
          value: str = "test_accuracy", **common) -> str:
    """A fixed-width text table: one row per value of `row_key`, one column per named setting,
    each cell the mean over seeds in % with its 95% interval half-width (blank where nothing ran;
    a row where nothing ran is left out)."""
    from .stats import mean_interval
    head = f"{row_key:>8}  " + "  ".join(f"{name:>19}" for name in columns)
    lines = [head]
    for r in rows:
        cells = []
        for match in columns.values():
            if not select_any(records, **common, **{row_key: r}, **match):
                cells.append("")  # not run
                continue
            v = values(records, value, **common, **{row_key: r}, **match)
            if len(v) > 1:
                m, lo, hi = mean_interval(v)
                cells.append(f"{100 * m:>11.2f} ± {100 * (hi - m):<5.2f}")
            else:
                cells.append(f"{100 * v[0]:>11.2f} (1 seed)")
        if any(cells):
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
        lines.append("- **Mixing** true labels in: validation picked **alpha = 1** (soft targets alone); "
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
        return f"{c.diff * c.scale:+.1f} {c.unit}, {c.interval()}, {c.n} seeds"
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
    return bool(select(records, **match))


def with_shared_mistakes(records: list[dict], teacher_test, y_test) -> list[dict]:
    """The records with `same_wrong_answer` and `p_wrong_given_teacher_wrong` (`distill.metrics.shared_mistakes`)."""
    from .metrics import shared_mistakes
    return [{**r, **shared_mistakes(r["test_logits"], teacher_test, y_test)} for r in records]


# ---- 06 · through an API -------------------------------------------------------------------

def queries_to_reach(runs: list[dict], budgets: Sequence[int], target: float, value: str = "test_accuracy",
                     **match) -> float | None:
    """Queries at which the mean curve of `value` (over seeds) of the matching copies first
    reaches `target` (`distill.metrics.budget_to_reach`, log-interpolated); None if it never does."""
    from .metrics import budget_to_reach
    pts = [(b, mean(values(runs, value, n=b, **match))) for b in budgets if select_any(runs, n=b, **match)]
    return budget_to_reach([p[0] for p in pts], [p[1] for p in pts], target)


def _queries(q: float | None, first: int) -> str:
    return "not reached" if q is None else f"≤ {q:,.0f}" if q <= first else f"{q:,.0f}"


def queries_table(runs: list[dict], budgets: Sequence[int], shares: Sequence[float], teacher_acc: float,
                  rows: dict[str, dict]) -> str:
    """Markdown: for each named copier (label -> fields), the queries needed to reach each share of the
    teacher's test accuracy, and the best mean accuracy it reached."""
    head = " | ".join(f"{s:.0%} of the teacher ({100 * s * teacher_acc:.1f}%)" for s in shares)
    out = [f"| copy | {head} | best reached |", "|---" * (len(shares) + 2) + "|"]
    for label, match in rows.items():
        best = max(mean(values(runs, n=b, **match)) for b in budgets if select_any(runs, n=b, **match))
        cells = [_queries(queries_to_reach(runs, budgets, s * teacher_acc, **match), budgets[0]) for s in shares]
        out.append(f"| {label} | " + " | ".join(cells) + f" | {100 * best:.1f}% |")
    return "\n".join(out)


def api_copies(runs: list[dict], *, budgets: dict, copiers: dict, formats: dict, teacher_acc: float,
               confidence: float, shares: Sequence[float], steps: int | None = None) -> str:
    """06's findings. `runs`: API copies with fields source, output, n (the budget), family, size;
    `budgets`: {source: budgets}; `copiers`: {family: size}; `formats`: {family: formats trained};
    `confidence`: the teacher's mean top probability on the in-distribution queries."""
    b = list(budgets["train"])
    lo, hi = b[0], b[-1]
    lines = []
    for f, size in copiers.items():
        name = FAMILY_NAMES.get(f, f)
        if not {"probs", "label"} <= set(formats[f]):
            continue
        c = {n: compare(runs, dict(output="probs"), dict(output="label"), ("probabilities", "labels"),
                        source="train", family=f, size=size, n=n) for n in b}
        called = [n for n in b if c[n].winner == "probabilities"]
        lines.append(f"- **{_cap(name)} copy (size {size}), probabilities vs. labels only.** At {lo:,} queries {c[lo].sentence('beat')}; "
                     f"at {hi:,}, {c[hi].sentence('beat')}. Probabilities gave a clearly better copy at "
                     + (f"{_list(called)} queries, {len(called)} of the {len(b)} budgets." if called else f"none of the {len(b)} budgets."))
    targets = {s: s * teacher_acc for s in shares}
    rows = {f"{FAMILY_NAMES.get(f, f)}, {o}": dict(source="train", family=f, size=copiers[f], output=o)
            for f in copiers for o in formats[f]}
    reach90 = {k: queries_to_reach(runs, b, targets[0.9], **m) for k, m in rows.items()} if 0.9 in targets else {}
    if reach90:
        got = {k: q for k, q in reach90.items() if q is not None}
        if got:
            k = min(got, key=got.get)
            lines.append(f"- **Cheapest copy at 90% of the teacher**: the {k} copy, after {_queries(got[k], lo)} "
                         "queries (interpolated between budgets on the mean curve). Per copier and format: "
                         + "; ".join(f"{kk} {_queries(q, lo)}" for kk, q in reach90.items()) + ".")
        else:
            lines.append("- **No copy reached 90%** of the teacher's accuracy within the budgets tried.")
    if "cnn" in copiers and "mlp" in copiers:
        cmp = {n: compare(runs, dict(family="cnn", size=copiers["cnn"]), dict(family="mlp", size=copiers["mlp"]),
                          ("CNN", "MLP"), source="train", output="label", n=n) for n in b}
        cnn_wins = [n for n in b if cmp[n].winner == "CNN"]
        mlp_wins = [n for n in b if cmp[n].winner == "MLP"]
        lines.append(f"- **Which copy a copier should build** (label-only answers, paired by seed): the CNN was clearly "
                     f"better at {_list(cnn_wins) + ' queries' if cnn_wins else 'no budget'}, the MLP at "
                     f"{_list(mlp_wins) + ' queries' if mlp_wins else 'no budget'}. At {lo:,} queries {cmp[lo].sentence()}; "
                     f"at {hi:,}, {cmp[hi].sentence()}"
                     + (f". Both were trained for the same {steps} steps; a copier who trains longer may get more from "
                        "the CNN (not measured here)." if steps else "."))
    others = {s: max(mean(values(runs, source=s, output=o, family=f, size=copiers[f], n=n))
                     for f in copiers for o in formats[f] for n in budgets[s]
                     if select_any(runs, source=s, output=o, family=f, size=copiers[f], n=n))
              for s in budgets if s != "train"}
    if others:
        lines.append("- **Which images the copier sends matters far more than what the API returns.** Copies trained on "
                     + "; ".join(f"`{s}` queries reached at most {100 * v:.1f}%" for s, v in others.items())
                     + " test accuracy (chance is 10%), whatever the format and budget.")
    lines.append(f"- **Why labels cost so little here**: this teacher is confident (on in-distribution queries its top "
                 f"answer holds {100 * confidence:.1f}% of the probability on average), so a full answer says little "
                 "beyond the label.")
    return "\n".join(lines)


# ---- 07 · defences -------------------------------------------------------------------------

def _ci_cell(v: Sequence[float]) -> str:
    if len(v) < 2:
        return f"{100 * v[0]:.1f}%"
    m, lo, hi = mean_interval(v)
    return f"{100 * m:.1f}% ± {100 * (hi - m):.1f}"


def defence_scorecard(runs: list[dict], users: dict, *, defences: Sequence[str], copiers: dict, budgets: dict,
                      n_test: int) -> str:
    """07's scorecard in Markdown: per defence, users' accuracy and calibration error, and each
    copy's fidelity (agreement with the teacher on test images, mean ± 95% CI half-width)."""
    cols = [(f, copiers[f], c, n) for f in copiers for n in budgets[f] for c in ("naive", "adaptive")]
    head = " | ".join(f"{f} {c}, {n:,} q." for f, _, c, n in cols)
    out = [f"Users: top-1 accuracy and calibration error (ECE) on the {n_test:,} test images. Copies: agreement with the "
           f"teacher on the test images (fidelity), mean ± half-width of the 95% interval over "
           f"{len(values(runs, 'test_agreement', defence=defences[0], copier='naive', family=cols[0][0], n=cols[0][3]))} seeds; "
           "q. = queries.", "", f"| defence | users' accuracy | users' ECE | {head} |", "|---" * (3 + len(cols)) + "|"]
    for d in defences:
        acc, ece = users[d]
        cells = [_ci_cell(values(runs, "test_agreement", defence=d, copier=c, family=f, size=s, n=n)) for f, s, c, n in cols]
        out.append(f"| {d} | {100 * acc:.2f}% | {'—' if ece is None else f'{ece:.3f}'} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def defences(runs: list[dict], users: dict, changed: dict, *, defences: Sequence[str], copiers: dict, budgets: dict,
             wm_runs: list[dict], passes: dict, wm_queries: int, marked: int, flagged: dict, attacks: Sequence[str],
             fpr: float) -> str:
    """07's findings. The first of `defences` is the undefended API; names starting with "rounded",
    "noise" and "watermark" are those defences. Fidelity comparisons pair each defence with no
    defence by seed (same queries, same initial weights)."""
    none, rest = defences[0], list(defences[1:])
    by = {d.split()[0]: d for d in defences}
    parts = []
    for f, s in copiers.items():
        n = max(budgets[f])
        hurt = {d: compare(runs, dict(defence=d), dict(defence=none), (f"*{d}*", "no defence"), value="test_agreement",
                           copier="naive", family=f, size=s, n=n) for d in rest}
        adapt = {d: compare(runs, dict(defence=d), dict(defence=none), (f"the adaptive copy against *{d}*",
                            "the adaptive copy without defence"), value="test_agreement", copier="adaptive",
                            family=f, size=s, n=n) for d in rest}
        lowered = [d for d in rest if hurt[d].winner == "no defence"]
        worst = min(rest, key=lambda d: hurt[d].diff)
        base = mean_ci(values(runs, "test_agreement", defence=none, copier="naive", family=f, size=s, n=n))
        still_lower = [d for d in rest if adapt[d].winner == "the adaptive copy without defence"]
        parts.append(
            f"- **{_cap(FAMILY_NAMES.get(f, f))} copy, {n:,} queries.** Without a defence the copy agrees with the teacher on "
            f"{base} of test images. Against a naive copier, {len(lowered)} of {len(rest)} defences lowered fidelity "
            f"clearly{' (' + ', '.join(f'*{d}*' for d in lowered) + ')' if lowered else ''}; the strongest, *{worst}*: "
            f"{hurt[worst].sentence('keeps fidelity above')}. "
            f"An adaptive copier, who keeps only the top answer, was clearly hurt by {len(still_lower)} of {len(rest)} "
            f"defences{' (' + ', '.join(f'*{d}*' for d in still_lower) + ')' if still_lower else ''}; against "
            f"*{worst}*, {adapt[worst].sentence('beats')}.")
    prevention = ("**Prevention.** Fidelity is the share of test images on which the copy gives the teacher's answer; "
                  "each comparison pairs a defence with no defence by seed.\n\n" + "\n".join(parts)
                  + "\n\nEvery defence here must keep the top answer right for users, and the top answer alone makes a "
                  "good copy (notebook 06).")
    rounded, noise, wm = by.get("rounded"), by.get("noise"), by.get("watermark")
    price = [f"**Price for users.** Without a defence users get {100 * users[none][0]:.2f}% top-1 accuracy."]
    keep = [d for d in rest if changed[d] == 0]
    if keep:
        price.append(f"{_list([f'*{d}*' for d in keep])} never changed the top answer; they cost users the confidence "
                     "information (label only: all of it).")
    if rounded:
        price.append(f"Rounding changed the top answer on {100 * changed[rounded]:.2f}% of images through ties "
                     f"(accuracy {100 * users[rounded][0]:.2f}%).")
    if noise and users[noise][1] is not None and users[none][1] is not None:
        price.append(f"Noise changed {100 * changed[noise]:.2f}% of top answers and moved the calibration error from "
                     f"{users[none][1]:.3f} to {users[noise][1]:.3f}.")
    if wm:
        price.append(f"The watermark costs {100 * (users[none][0] - users[wm][0]):.2f} points of accuracy, by design.")
    steps = sorted(passes)
    wm_cmp = {st: compare(wm_runs, dict(who="copy"), dict(who="independent"), ("the copy", "the independent model"),
                          value="match_rate", steps=st) for st in steps}
    repeats = [st for st in steps if wm_cmp[st].winner == "the copy"]
    p_max = {st: max(values(wm_runs, "p_value", who="copy", steps=st)) for st in steps}
    proven = [st for st in steps if p_max[st] < 0.001]
    evidence = (f"**Evidence after the fact.** Of {wm_queries:,} queries, {marked} got a watermark answer. Trained for "
                f"{passes[steps[0]]:.0f} passes over them, the copy repeated "
                f"{mean_ci(values(wm_runs, 'match_rate', who='copy', steps=steps[0]))} of the watermark answers; for "
                f"{passes[steps[-1]]:.0f} passes, {mean_ci(values(wm_runs, 'match_rate', who='copy', steps=steps[-1]))}. "
                f"The copy repeated clearly more of them than an independently trained model at "
                f"{len(repeats)} of {len(steps)} training lengths; at {passes[steps[-1]]:.0f} passes, "
                f"{wm_cmp[steps[-1]].sentence('repeats more of them than')}. "
                + (f"The owner's test gave p < 0.001 for every seed's copy from {passes[proven[0]]:.0f} passes on. "
                   if proven else "The owner's test never reached p < 0.001 for every seed. ")
                + "A watermark identifies only copies that memorised individual answers; a copier who trains briefly on "
                "many queries, like those in the scorecard, leaves little of this evidence.")
    honest = flagged["reference", "honest users (test images)"]
    monitoring = (f"**Monitoring.** Calibrated for a {100 * fpr:.0f}% false-alarm rate on legitimate validation traffic, "
                  f"the distance test flagged {100 * honest:.0f}% of honest users' streams and caught " + ", ".join(f"{a} {100 * flagged['reference', f'copier: {a}']:.0f}%" for a in attacks)
                  + " of copier streams. PRADA's normality test caught "
                  + ", ".join(f"{a} {100 * flagged['normality', f'copier: {a}']:.0f}%" for a in attacks)
                  + ". No test can tell a copier sending natural in-distribution images from an honest user: that is "
                  "the copier notebook 06 shows to be the most effective.")
    return "\n\n".join([prevention, " ".join(price), evidence, monitoring])


# ---- 04 · transfer data ----------------------------------------------------------------------

def best_size(runs: list[dict], sizes: Sequence[int], **match) -> int:
    """The transfer-set size with the highest mean validation accuracy over seeds (never test)."""
    from .experiment import choose
    return choose([r for r in runs if r["n"] in sizes], ("n",), **match)[0]


def transfer_table(runs: list[dict], sources: Sequence[str], sizes: dict, families: dict, teacher_acc: float,
                   describe: dict) -> str:
    """Markdown: per source and copy, the size chosen on validation and the test accuracy there."""
    out = ["| source | what the copier sends | copy | size (chosen on validation) | test accuracy | of the teacher's |",
           "|---|---|---|---|---|---|"]
    for name in sources:
        for f, s in families.items():
            if not select_any(runs, source=name, family=f):
                continue
            n = best_size(runs, sizes[name], source=name, family=f)
            v = values(runs, source=name, family=f, size=s, n=n)
            out.append(f"| `{name}` | {describe[name]} | {FAMILY_NAMES.get(f, f)} | {n:,} | {mean_ci(v)} | "
                       f"{mean(v) / teacher_acc:.0%} |")
    return "\n".join(out)


def transfer_data(runs: list[dict], *, sources: Sequence[str], sizes: dict, families: dict, teacher_acc: float,
                  seed_size: int) -> str:
    """04's findings (needs the sources train, heldout, digits, patches, noise, mixup, augment for
    every sentence; leaves out a sentence whose sources did not run)."""
    mlp = dict(family="mlp", size=families["mlp"])
    best = {name: best_size(runs, sizes[name], source=name, **mlp) for name in sources}
    acc = {name: mean(values(runs, source=name, n=best[name], **mlp)) for name in sources}
    lines = []
    if "train" in sources:
        lines.append(f"- **Without any labels**, the teacher's own training images (`train`) gave the MLP copy "
                     f"{mean_ci(values(runs, source='train', n=best['train'], **mlp))} at {best['train']:,} images "
                     "(the size validation chose).")
    if {"train", "heldout"} <= set(sources):
        n = max(set(sizes["heldout"]) & set(sizes["train"]))
        c = compare(runs, dict(source="heldout"), dict(source="train"), ("fresh images of the same kind", "the teacher's "
                    "training images"), n=n, **mlp)
        lines.append(f"- **Fresh images of the same kind** (`heldout`, {n:,} images): {c.sentence('beat')}.")
    outside = [s for s in ("digits", "patches", "noise") if s in sources]
    if outside and "train" in sources:
        o = max(outside, key=acc.get)
        n = max(n for n in sizes[o] if n in sizes["train"])
        c = compare(runs, dict(source="train"), dict(source=o), ("task-like images", f"`{o}`"), n=n, **mlp)
        lines.append(f"- **Other domains and noise:** the best of them for the MLP copy, `{o}`, reached {100 * acc[o]:.1f}% "
                     f"(chance is 10%). At {n:,} images, {c.sentence('beat')}.")
    stretched = [s for s in ("mixup", "augment") if s in sources]
    if stretched and "train" in sources and seed_size in sizes["train"]:
        st = max(stretched, key=acc.get)
        n = best[st]
        lines.append(f"- **A tiny seed set stretched** ({seed_size} real images): `{st}` reached {100 * acc[st]:.1f}% at "
                     f"{n:,} images, against {mean_ci(values(runs, source='train', n=seed_size, **mlp))} for the same "
                     f"{seed_size} images sent as they are.")
    if "cnn" in families:
        cnn = dict(family="cnn", size=families["cnn"])
        calls = []
        for name in sources:
            common = [n for n in sizes[name] if select_any(runs, source=name, n=n, **cnn)]
            if common:
                n = max(common)
                c = compare(runs, cnn, mlp, ("the CNN copy", "the MLP copy"), source=name, n=n)
                calls.append(f"`{name}` ({n:,} images): {c.sentence()}")
        if calls:
            lines.append("- **The copy a copier would build.** The small CNN against the MLP on the same images: "
                         + "; ".join(calls) + ".")
    if "train" in sources and outside:
        o = max(outside, key=acc.get)
        big = max(sizes["train"])
        best_cnn = {name: mean(values(runs, source=name, family="cnn", size=families["cnn"], n=max(n for n in sizes[name]
                    if select_any(runs, source=name, n=n, family="cnn"))))
                    for name in sources if "cnn" in families and select_any(runs, source=name, family="cnn")}
        strongest = {name: max(acc[name], best_cnn.get(name, 0.0)) for name in sources}
        lines.append(f"\n**For policy readers.** \"Without the original training data\" is true here, but incomplete: the "
                     f"copier needs *inputs* that resemble the original's task. With up to {big:,} unlabelled task-like "
                     f"images the best copy reached {strongest['train'] / teacher_acc:.0%} of the teacher's accuracy; with "
                     f"unrelated images or noise, at most {max(strongest[s] for s in outside) / teacher_acc:.0%} "
                     "(chance is 10%). These copiers send random images from a fixed source. Copiers who *choose* or "
                     "*generate* their queries are measured in notebook 09 (*Copying without the data*), which asks "
                     "when having no task-like images still protects a model: \"no task-like data\" means \"no copy\" "
                     "only if no strategy recovers what the wrong images lose.")
    return "\n".join(lines)


# ---- 05 · the never-seen class -------------------------------------------------------------

def never_seen(rows: list[dict], two: list[dict], *, classes: Sequence[int], class_names: Sequence[str],
               teacher_per_class: Sequence[float], two_classes: Sequence[int], sizes: dict, T_one: float,
               T_two: float, teacher_acc: float) -> str:
    """05's findings. `rows`: one record per withheld class, method (hard/soft) and seed with the
    scores of `distill.metrics.withheld_scores`; `two`: the two-class variant, records with method,
    size, seed and the same scores (soft at `T_two` only); `sizes`: {size: parameter count}."""
    seeds = sorted({r["seed"] for r in rows})
    # per seed, the mean over withheld classes: one paired value per seed and method
    per_seed = {(m, key): [mean([r[key] for r in rows if r["method"] == m and r["seed"] == s]) for s in seeds]
                for m in ("hard", "soft") for key in ("withheld", "withheld_corrected")}
    avg = [{"method": m, "seed": s, "score": per_seed[(m, "withheld_corrected")][i]} for m in ("hard", "soft")
           for i, s in enumerate(seeds)]
    one = compare(avg, dict(method="soft"), dict(method="hard"), ("soft targets", "hard labels"), value="score")
    by_class = {c: mean([r["withheld_corrected"] for r in rows if r["method"] == "soft" and r["class"] == c]) for c in classes}
    best, worst = max(classes, key=by_class.get), min(classes, key=by_class.get)
    lines = [f"- **One class withheld** (averaged over the {len(classes)} classes, {len(seeds)} seeds each; soft targets at "
             f"T = {T_one:g}, chosen on validation), test accuracy on the class the student never saw: hard labels "
             f"{100 * mean(per_seed[('hard', 'withheld')]):.1f}%, soft targets {100 * mean(per_seed[('soft', 'withheld')]):.1f}%; "
             f"with the bias chosen on validation, hard labels {100 * mean(per_seed[('hard', 'withheld_corrected')]):.1f}% and "
             f"soft targets **{100 * mean(per_seed[('soft', 'withheld_corrected')]):.1f}%**: {one.sentence('beat')}. The teacher "
             f"gets {100 * mean([teacher_per_class[c] for c in classes]):.1f}% of these classes right. Best withheld class "
             f"with soft targets and bias: {class_names[best]} ({100 * by_class[best]:.1f}%); worst: {class_names[worst]} "
             f"({100 * by_class[worst]:.1f}%).",
             ]
    if mean(per_seed[("hard", "withheld")]) > 0:
        lines.append("- Hard labels are not zero because the teacher sometimes *names* the missing class for images of "
                     "other classes (its own mistakes, e.g. shirts called T-shirts); soft targets add the small "
                     "probabilities it gives that class on every image.")
    names = " and ".join(class_names[k] for k in two_classes)
    for size, params in sizes.items():
        c = compare(two, dict(method="soft"), dict(method="hard"), ("soft targets", "hard labels"),
                    value="withheld_corrected", size=size)
        lines.append(f"- **Only two classes** ({names}), MLP of {params:,} parameters, on the eight classes never seen, "
                     f"after the bias correction: soft targets (T = {T_two:g}) "
                     f"{mean_ci(values(two, 'withheld_corrected', method='soft', size=size))}, hard labels "
                     f"{mean_ci(values(two, 'withheld_corrected', method='hard', size=size))}: {c.sentence('beat')}.")
    big = max(sizes)
    c_big = compare(two, dict(method="soft"), dict(method="hard"), ("soft", "hard"), value="withheld_corrected", size=big)
    if c_big.winner == "soft":
        lines.append("  Soft targets did clearly better with the larger student, as in the paper.")
    else:
        lines.append("  Unlike in the paper, soft targets did not clearly beat hard labels even with the larger student. "
                     "(A possible reason, not tested here: the paper's MNIST teacher was nearly perfect, while this one is "
                     f"wrong on {100 * (1 - teacher_acc):.1f}% of test images, and its mislabelled images already teach the "
                     "hard-label student something.)")
    if one.winner == "soft targets":
        policy = ("A copier does not need examples of everything the original can do: with probabilities and one "
                  "adjustment chosen on a small labelled set, the copy recognised a category it never queried "
                  f"{100 * mean(per_seed[('soft', 'withheld_corrected')]):.0f}% of the time, against "
                  f"{100 * mean(per_seed[('hard', 'withheld_corrected')]):.0f}% from labels alone.")
    else:
        policy = f"In this run probabilities did not clearly leak more about a never-queried category than labels did ({one.sentence('beat')})."
    return "\n".join(lines) + "\n\n**For policy readers.** " + policy


def with_withheld_scores(records: list[dict], ds, biases: Sequence[float], classes: Sequence[int] | None = None) -> list[dict]:
    """The records with `distill.metrics.withheld_scores` for `classes` (default: each record's own "class")."""
    from .metrics import withheld_scores
    return [{**r, **withheld_scores(r["val_logits"], r["test_logits"], ds.y_val, ds.y_test,
                                    [r["class"]] if classes is None else classes, biases)} for r in records]


# ---- 08 · a language model -----------------------------------------------------------------

def language_model(runs: list[dict], work: list[dict], *, budgets: Sequence[int], trained: dict, top_k: int,
                   confidence: float, sampled_differs: float, per_problem: dict, work_budget: int, work_len: int,
                   answer_len: int, teacher_em: float, times_smaller: float, target: float = 0.8) -> str:
    """08's findings. `runs`: copies with kind, n (queries), seed and exact_match / digit_accuracy /
    well_formed on the test problems; `trained`: {kind: budgets it was trained at}; `work`: copies
    trained on the working teacher's answers (kind "working") at `work_budget`; `per_problem`:
    numbers the API returns per problem, by kind."""
    lo, hi = min(budgets), max(budgets)
    mid = sorted(budgets)[len(budgets) // 2]
    em = lambda kind, n: mean(values(runs, "exact_match", kind=kind, n=n))  # noqa: E731
    full = {n: compare(runs, dict(kind="full"), dict(kind="text"), ("full distributions", "greedy text"),
                       value="exact_match", n=n) for n in trained.get("full", [])}
    lines = [f"Exact match on the held-out test problems; every comparison pairs copies by seed (a seed fixes the copy's "
             f"initial weights and data order), {len(values(runs, 'exact_match', kind='text', n=lo))} seeds.", "",
             "- **How exact match grows with queries.** With greedy text, copies solve exactly "
             + _list([f"{mean_ci(values(runs, 'exact_match', kind='text', n=n))} of the problems after {n:,} queries"
                      for n in sorted({lo, mid, hi})]) + "."]
    if full:
        called = [n for n, c in full.items() if c.winner == "full distributions"]
        lines.append(f"- **Log-probabilities.** Full distributions clearly beat greedy text at "
                     f"{_list(called) + ' queries' if called else 'no budget'} ({len(called)} of {len(full)} budgets): "
                     + "; ".join(f"at {n:,}, {c.sentence('beat')}" for n, c in full.items()) + ".")
    if hi in trained.get("topk", []):
        c = compare(runs, dict(kind="topk"), dict(kind="text"), (f"top-{top_k} answers", "greedy text"),
                    value="exact_match", n=hi)
        lines.append(f"- **Top-{top_k} log-probabilities** at {hi:,} queries: {c.sentence('beat')}.")
    reach = {k: queries_to_reach(runs, budgets, target, "exact_match", kind=k) for k in ("text", "full")
             if len(trained.get(k, [])) > 1}
    if reach:
        lines.append(f"- **Queries needed for {target:.0%} exact match** (mean curve, interpolated on a log scale): "
                     + "; ".join(f"{k} {'more than ' + format(hi, ',') if q is None else f'about {q:,.0f}'}"
                                 for k, q in reach.items())
                     + "." + (" Counted in numbers the API sends back (" + ", ".join(f"{k} {v}" for k, v in per_problem.items())
                              + " per problem): " + "; ".join(f"{k} about {q * per_problem[k]:,.0f}" for k, q in reach.items() if q)
                              + "." if any(reach.values()) else ""))
    lines.append(f"- **Sampled and greedy text are nearly the same thing here**: the teacher is so sure of every "
                 f"character (mean probability of the chosen one {confidence:.4f}) that {100 * sampled_differs:.2f}% of "
                 "sampled answers differ from the greedy ones, so a copier reading sampled text gets practically the "
                 "greedy copier's training data (not trained separately here).")
    lines.append(f"- **Style comes before capability.** With {lo:,} greedy-text queries the copies write well-formed "
                 f"answers {100 * mean(values(runs, 'well_formed', kind='text', n=lo)):.0f}% of the time and get "
                 f"{100 * mean(values(runs, 'digit_accuracy', kind='text', n=lo)):.0f}% of the digits right, but solve "
                 f"only {100 * em('text', lo):.1f}% of the problems.")
    both = work + select(runs, kind="text", n=work_budget)
    w = compare(both, dict(kind="working"), dict(kind="text"), ("copies shown the working", "copies given the sum alone"),
                value="exact_match", n=work_budget)
    lines.append(f"- **Showing the working.** With {work_budget:,} queries, copies trained on the teacher's working and "
                 f"sum solve {mean_ci(values(work, 'exact_match', kind='working', n=work_budget))} of the problems, against "
                 f"{mean_ci(values(runs, 'exact_match', kind='text', n=work_budget))} from the sum alone: "
                 f"{w.sentence('beat')}; {work_len} characters per answer instead of {answer_len}. The carries are the "
                 "step a small copy otherwise has to discover from examples.")
    text_best = max(budgets, key=lambda n: em("text", n))
    protected = em("text", text_best) < target
    richer = full.get(hi)
    policy = (f"On this task an API that returns only text {'protected the teacher only at these small budgets' if protected else 'did not protect the teacher' + chr(39) + 's capability'}: "
              f"with {text_best:,} answered problems a copy {times_smaller:.1f} times smaller, trained on the text alone, "
              f"solves {100 * em('text', text_best):.1f}% of new problems exactly (the teacher: {100 * teacher_em:.1f}%).")
    if richer is not None:
        policy += (f" Returning log-probabilities {'made copying cheaper' if richer.winner == 'full distributions' else 'made no clear difference' if not richer.called else 'did not help'}"
                   f" at {hi:,} queries ({richer.sentence('beat')}).")
    policy += (" A toy task is not a frontier model, but the mechanism is the same: text answers are training data. "
               + (f"What the text contains mattered more: when the teacher showed its working, {work_budget:,} answers gave "
                  "a copy far better than the answers alone. An API that returns a model's reasoning gives a copier its "
                  "method, not only its results." if w.winner == "copies shown the working" else
                  "Showing the working did not clearly help here."))
    return "\n".join(lines) + "\n\n**For policy readers.** " + policy




def copy_costs(runs: list[dict], *, budgets: Sequence[int], rows: dict[str, dict], teacher_acc: float, teacher,
               copy_flops: dict, steps: int, batch_size: int, teacher_flops: float, share: float = 0.9) -> str:
    """The cost ledger (`distill.ledger`) of the cheapest copy of each kind that kept `share` of the
    teacher's accuracy: for each named copier (label -> fields, with family), the smallest budget
    tried at which its mean test accuracy over seeds kept that share. `teacher` is the teacher's
    `ledger.Cost`; `copy_flops` the forward FLOPs per example of each family."""
    from .ledger import copy_cost, ledger_line
    lines, best = [], None
    for label, match in rows.items():
        ok = [b for b in budgets if select_any(runs, n=b, **match)
              and mean(values(runs, n=b, **match)) >= share * teacher_acc]
        if not ok:
            lines.append(f"  - {label}: no budget tried kept {100 * share:.0f}%")
            continue
        b = min(ok)
        kept = mean(values(runs, n=b, **match)) / teacher_acc
        c = copy_cost(label, copy_flops[match["family"]], steps, batch_size, b, teacher_flops)
        lines.append(f"  - {label}: {ledger_line(c, teacher, kept)}; answering its queries cost the owner "
                     f"{c.owner_flops / teacher.train_flops:.2%} of the teacher's training compute")
        if best is None or c.train_flops + c.owner_flops < best[0]:
            best = (c.train_flops + c.owner_flops, label, c, kept)
    head = (f"- **What a copy cost** (the cost ledger, `distill/ledger.py`: training compute = 3 x forward FLOPs x "
            f"examples seen; each copy at the smallest budget tried where its mean accuracy kept "
            f"{100 * share:.0f}% of the teacher's; the teacher: {teacher.train_flops:.2e} FLOPs, "
            f"{teacher.labels:,} labels):")
    if best:
        lines.append(f"  - the cheapest of these: {best[1]}")
    return "\n".join([head] + lines)


# ---- 09 · copying without the data ------------------------------------------------------------

def without_data(runs: list[dict], defended: list[dict], *, budgets: dict, starts: dict, formats: Sequence[str],
                 teacher_acc: float, pool: str, seeded: str, active: str, generator: str | None,
                 def_budget: int, defences: Sequence[str], flagged: dict, honest: dict, fpr: float) -> str:
    """09's findings. `runs`: copies with fields strategy, output, n; `budgets`: {strategy: budgets};
    `starts`: {strategy: what it started from}; `pool`, `seeded`, `active`, `generator`: the names of
    the random pool, Jacobian, active and generator strategies. `defended`: copies at one budget per
    strategy (`def_budget`, as the notebook states it) with field defence (the first of `defences` is the undefended API). `flagged`: {(strategy,
    stream length): share of streams flagged}; `honest`: {stream length: share of honest streams}."""
    seeds = len(values(runs, strategy=pool, output=formats[0], n=max(budgets[pool])))
    head = " | ".join(f"{o} answers" for o in formats)
    lines = [f"Test accuracy at each strategy's largest budget, mean with its 95% interval over {seeds} seeds, and the "
             f"share of the teacher's {100 * teacher_acc:.1f}% it keeps:", "",
             f"| strategy | starts from | queries | {head} |", "|---" * (3 + len(formats)) + "|"]
    for s, bs in budgets.items():
        top = max(bs)
        cells = [f"{mean_ci(values(runs, strategy=s, output=o, n=top))} ({100 * mean(values(runs, strategy=s, output=o, n=top)) / teacher_acc:.0f}%)"
                 if select_any(runs, strategy=s, output=o, n=top) else "—" for o in formats]
        lines.append(f"| {s} | {starts[s]} | {top:,} | " + " | ".join(cells) + " |")
    lines.append("")
    for o in formats:
        both = [n for n in budgets[active] if n in budgets[pool]]
        c = {n: compare(runs, dict(strategy=active), dict(strategy=pool), ("choosing queries", "random queries"),
                        output=o, n=n) for n in both}
        wins = [n for n in both if c[n].winner == "choosing queries"]
        losses = [n for n in both if c[n].winner == "random queries"]
        top = both[-1]
        lines.append(f"- **Choosing from a pool ({o}).** Asking about the images the copy is least sure of, against the "
                     f"same number of random images from the same pool: at {top:,} queries {c[top].sentence('beat')}. "
                     f"Choosing was clearly better at {_list(wins) + ' queries' if wins else 'no budget'} and clearly "
                     f"worse at {_list(losses) + ' queries' if losses else 'no budget'} (of {_list(both)}).")
    first = min(budgets[seeded])
    for o in formats:
        top = max(budgets[seeded])
        grow = compare(runs, dict(n=top), dict(n=first), (f"{top:,} queries", f"the {first} seed images alone"),
                       strategy=seeded, output=o)
        lines.append(f"- **Growing a seed set ({o}).** Jacobian-based augmentation of {first} seed images: after "
                     f"{top:,} queries the copy reached {mean_ci(values(runs, strategy=seeded, output=o, n=top))}; "
                     f"{grow.sentence('beat')}. The synthetic images teach the copy where the teacher's boundaries "
                     "lie near the seeds (what Papernot et al. needed for transferable attacks), not what unseen "
                     "clothes look like.")
    if generator:
        top = max(budgets[generator])
        best = max(budgets[generator], key=lambda n: mean(values(runs, strategy=generator, n=n)))
        lines.append(f"- **No images at all.** The data-free generator's copy reached "
                     f"{mean_ci(values(runs, strategy=generator, n=top))} after {top:,} queries (best mean "
                     f"{100 * mean(values(runs, strategy=generator, n=best)):.1f}% at {best:,}; chance is 10%). Up to "
                     f"{top:,} queries, having no images did protect this teacher; the published data-free attacks "
                     "used millions (below).")
    none, rest = defences[0], list(defences[1:])
    dparts = []
    for s in dict.fromkeys(r["strategy"] for r in defended):
        for_s = [d for d in rest if select_any(defended, strategy=s, defence=d)]
        cmp = {d: compare(defended, dict(defence=d), dict(defence=none), (f"*{d}*", "no defence"),
                          value="test_agreement", strategy=s) for d in for_s}
        lowered = [d for d in for_s if cmp[d].winner == "no defence"]
        worst = min(for_s, key=lambda d: cmp[d].diff)
        dparts.append(f"{s}: {len(lowered)} of {len(for_s)} defences lowered fidelity clearly"
                      + (f" ({', '.join(lowered)})" if lowered else "") + f"; the largest drop: {cmp[worst].sentence('keeps fidelity above')}")
    lines.append(f"- **Defences against each strategy** ({def_budget:,} queries, fidelity = agreement with the teacher "
                 "on test images, paired by seed with the undefended API): " + "; ".join(dparts) + ".")
    lengths = sorted(honest)
    lines.append(f"- **Spreading queries over accounts.** The query monitor (the distance test of notebook 07, "
                 f"calibrated for {100 * fpr:.0f}% false alarms at each account size) flagged, per account of "
                 + ", ".join(f"{L}" for L in lengths) + " queries: honest users "
                 + "/".join(f"{100 * honest[L]:.0f}%" for L in lengths) + "; "
                 + "; ".join(f"{s} " + "/".join(f"{100 * flagged[s, L]:.0f}%" for L in lengths)
                             for s in dict.fromkeys(k[0] for k in flagged))
                 + ". " + _exposure(flagged, lengths))
    return "\n".join(lines)


def strategy_needs(seconds: dict[str, list[float]], budgets: dict[str, Sequence[int]], *, adaptive: Sequence[str] = ()) -> str:
    """What each strategy of 09 took to choose and send its queries: `seconds` {strategy: one wall time
    per seed} for its largest budget; `adaptive`: the strategies that train interim copies between
    rounds (their time includes that training; the cost ledger counts only the final copy)."""
    if not seconds:
        raise DistillError("strategy_needs needs the collection times of at least one strategy")
    parts = [f"{s} {mean(ts):.0f} s for {max(budgets[s]):,} queries" for s, ts in seconds.items()]
    n = len(next(iter(seconds.values())))
    out = (f"- **Time to choose and send the queries** (mean over {n} seeds, on the machine that ran this notebook): "
           + "; ".join(parts) + ".")
    if adaptive:
        out += (f" For {_list(list(adaptive))} this includes the training they do to choose their queries (interim "
                "copies, and the generator); the ledger below counts only the final copy's training.")
    return out


def _exposure(flagged: dict, lengths: Sequence[int]) -> str:
    """Which strategies most accounts of the longest and of the shortest length gave away (>= half flagged)."""
    names = list(dict.fromkeys(k[0] for k in flagged))
    long, short = max(lengths), min(lengths)
    at_long = [s for s in names if flagged[s, long] >= 0.5]
    at_short = [s for s in names if flagged[s, short] >= 0.5]
    hidden = [s for s in at_long if s not in at_short]
    out = (f"Accounts of {long} queries gave away (half or more flagged) {_list(at_long) if at_long else 'no strategy'}; "
           f"at {short} queries per account, {_list(at_short) if at_short else 'none'}.")
    if hidden:
        out += (f" Spreading its queries over accounts of {short} hid {_list(hidden)}: the cost is "
                f"{long // short} times as many accounts.")
    return out


def beyond_imitation(narrow: list[dict], broad: list[dict], *, covered: int, budget: int) -> str:
    """08's test outside the imitation data. `narrow`: copies that asked only about problems with at
    most `covered` carries; `broad`: copies that asked about any problem, same budget and seeds.
    Both carry `exact_match_*` and `well_formed_*` for the test problems `inside` and `outside`
    (more than `covered` carries); paired by seed."""
    both = narrow + broad
    c_out = compare(both, dict(asked="broad"), dict(asked="narrow"), ("the copy that asked about every kind",
                    "the copy that asked only about easy problems"), value="exact_match_outside")
    c_in = compare(both, dict(asked="broad"), dict(asked="narrow"), ("the broad copy", "the narrow copy"),
                   value="exact_match_inside")
    return (f"- **Outside the imitation data.** A copier that sent {budget:,} problems with at most {covered} carr"
            f"{'y' if covered == 1 else 'ies'} (the greedy-text API) got a copy that solved "
            f"{mean_ci(values(narrow, 'exact_match_inside'))} of such test problems but "
            f"{mean_ci(values(narrow, 'exact_match_outside'))} of those with more carries, while writing well-formed "
            f"answers to {mean_ci(values(narrow, 'well_formed_outside'))} of them. On the harder problems "
            f"{c_out.sentence('beat')}; on the easy ones, {c_in.sentence('beat')}. The copy learned the form of "
            "every answer, and the capability only where it asked (as Gudibande et al. 2023 reported for imitation "
            "of large language models, not measured here).")
