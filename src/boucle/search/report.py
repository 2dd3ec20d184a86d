"""The end of a search: a table of the top trials, plots, and the best configuration as a spec.

Files written into the search's folder:

- ``report.md`` — the best configurations (mean metric over their seeds), the failures;
- ``best.json`` — a runnable spec: the search's spec with the best configuration as
  constants (a one-point grid; under successive halving, trained for the best rung's budget):
  ``boucle search OUT/best.json`` reruns it;
- ``metric_vs_params.png`` — the metric against each searched hyper-parameter (log axes
  for log-uniform ones), ``best_so_far.png`` — the best metric against trials finished
  (in trial order), when matplotlib is installed (``boucle[plot]``).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from .journal import Journal
from .methods import config_scores, rank
from .recipes import RECIPES
from .spec import SearchSpec

__all__ = ["write_report", "top_table", "best_spec"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def top_table(records: list[dict], spec: SearchSpec, k: int = 10) -> str:
    """Markdown table of the ``k`` best configurations of the last rung (mean over seeds)."""
    last = max((r.get("rung") or 0 for r in records), default=0)
    rs = [r for r in records if (r.get("rung") or 0) == last]
    scores = config_scores(rs, spec.metric)
    order = [i for i in rank(scores, spec.direction) if scores[i] is not None][:k]
    names = spec.space.searched or list(spec.space.dims)
    extra = sorted({m for r in rs if r["status"] == "ok" for m in r["metrics"]} - {spec.metric})[:4]
    head = ["rank", "config", *names, f"{spec.metric} (mean of {spec.seeds})", *extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n, i in enumerate(order, 1):
        mine = [r for r in rs if r["config_index"] == i]
        cfg = mine[0]["config"]
        means = [sum(r["metrics"].get(m, math.nan) for r in mine) / len(mine) for m in extra]
        lines.append(
            "| "
            + " | ".join([str(n), f"c{i:04d}", *(_fmt(cfg.get(p)) for p in names), _fmt(scores[i]), *map(_fmt, means)])
            + " |"
        )
    return "\n".join(lines)


def best_spec(spec: SearchSpec, best: dict, rung_budget: int | None) -> dict:
    """The spec that reruns the best configuration (see the module doc)."""
    raw = {k: v for k, v in spec.raw.items() if k not in ("trials", "halving", "method", "space", "out")}
    config = dict(best["config"])
    if spec.objective.kind == "recipe":
        recipe = RECIPES[spec.objective.name]
        if rung_budget is not None and recipe.with_budget is not None:
            config = recipe.with_budget(config, rung_budget)
    elif spec.objective.kind == "file":
        raw["objective"] = f"{spec.objective.name}:{spec.objective.function}"  # an absolute path
    raw.update(method="grid", space=config, name=f"{spec.name}-best")
    return raw


def _plots(journal: Journal, spec: SearchSpec, records: list[dict]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    ok = [r for r in records if r["status"] == "ok" and math.isfinite(r["metrics"].get(spec.metric, math.nan))]
    names = spec.space.searched
    files = []
    if ok and names:
        fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
        y = [r["metrics"][spec.metric] for r in ok]
        for ax, p in zip(axes[0], names):
            x = [r["config"][p] for r in ok]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
                ax.scatter(x, y, s=10, alpha=0.7)
                if spec.space.is_log(p):
                    ax.set_xscale("log")
            else:
                labels = sorted({str(v) for v in x})
                ax.scatter([labels.index(str(v)) for v in x], y, s=10, alpha=0.7)
                ax.set_xticks(range(len(labels)), labels)
            ax.set_xlabel(p)
            if min(y) > 0 and max(y) / min(y) > 100:
                ax.set_yscale("log")
        axes[0][0].set_ylabel(spec.metric)
        fig.tight_layout()
        path = os.path.join(journal.out, "metric_vs_params.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)
    if ok:
        order = sorted(records, key=lambda r: ((r.get("rung") or 0), r["key"]))
        best, curve = None, []
        for r in order:
            v = r["metrics"].get(spec.metric) if r["status"] == "ok" else None
            if (
                v is not None
                and math.isfinite(v)
                and (best is None or (v < best if spec.direction == "minimize" else v > best))
            ):
                best = v
            curve.append(math.nan if best is None else best)
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(range(1, len(curve) + 1), curve)
        ax.set_xlabel("trials (in trial order)")
        ax.set_ylabel(f"best {spec.metric} so far")
        if all(v > 0 for v in curve if math.isfinite(v)) and spec.direction == "minimize":
            ax.set_yscale("log")
        fig.tight_layout()
        path = os.path.join(journal.out, "best_so_far.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)
    return files


def write_report(journal: Journal, spec: SearchSpec, records: list[dict], best: dict | None) -> list[str]:
    """Write ``report.md``, ``best.json`` and the plots; returns the paths."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines = [
        f"# Search {spec.name}",
        "",
        f"{spec.objective.describe()}, method {spec.method}, {len(records)} trials "
        f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}), metric {spec.metric} "
        f"({spec.direction}), {spec.seeds} seed(s) per configuration, root seed {spec.seed}.",
        "",
    ]
    files = []
    if best is not None:
        lines += ["## Best configurations", "", top_table(records, spec), ""]
        budget = None
        if best["rung"] is not None:
            budget = next(r["budget"] for r in records if r["key"] == best["trials"][0])
        path = journal.write_text("best.json", json.dumps(best_spec(spec, best, budget), indent=2) + "\n")
        files.append(path)
        lines += [
            f"Best: `{json.dumps(best['config'])}` — {spec.metric} {best['score']:.6g}"
            + (f" (rung {best['rung']}, {budget} epochs)" if best["rung"] is not None else "")
            + f"; rerun it with `boucle search {path}`.",
            "",
        ]
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        lines += ["## Failed trials", "", "| trial | status | error |", "|---|---|---|"]
        lines += [
            f"| {r['key']} | {r['status']} | {(r.get('error') or '').replace('|', '/')[:200]} |" for r in failed[:50]
        ]
        lines.append("")
    files.extend(_plots(journal, spec, records))
    lines += [f"![{os.path.basename(f)}]({os.path.basename(f)})" for f in files if f.endswith(".png")]
    files.insert(0, journal.write_text("report.md", "\n".join(lines) + "\n"))
    return files
