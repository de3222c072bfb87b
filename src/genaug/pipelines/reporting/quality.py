"""The quality ablation's report: the results table (with each filtered cell tested against its
pool's unfiltered cell), and the map over the grid: gain, kept-set label fidelity and CAS,
the best drop per pool with its verdict, and where the threshold matters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from kedro.pipeline import Node, Pipeline
from matplotlib.figure import Figure

from genaug.pipelines.reporting.markdown import results_markdown
from genaug.pipelines.reporting.nodes import build_results_table
from genaug.schemas.ablations import QUALITY, SHARED_POOL, Declaration, label
from genaug.schemas.reporting import AblationReport

MAP_COLUMNS = ["arm", "pool", "column", "gain_pp", "gain_ci_low", "gain_ci_high", "verdict",
               "kept_label_fidelity", "kept_cas", "pool_label_fidelity", "pool_cas"]


@dataclass(frozen=True)
class QualityGrid:
    """Where each grid arm sits: its row (pool coordinates) and column (per-arm coordinates)."""

    cells: dict[str, tuple[str, str]]  # arm -> (row, column)
    pools: dict[str, str]  # row -> the kept-fidelity name of its pool
    variants: dict[str, str]  # variant arm -> its cell

    def pairs(self) -> list[list[str]]:
        """Each cell against its row's first (reference, e.g. unfiltered) cell; each variant
        against its cell."""
        first: dict[str, str] = {}
        pairs = []
        for arm, (row, _) in self.cells.items():
            if row in first:
                pairs.append([arm, first[row]])
            first.setdefault(row, arm)
        return pairs + [[arm, cell] for arm, cell in self.variants.items()]

    def table(self, report: AblationReport, **inputs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The results table with the grid's comparisons added to the configured ones."""
        tested = report.model_copy(update={"comparisons": [*report.comparisons, *self.pairs()]})
        return build_results_table(tested, **inputs)

    def map(self, results: pd.DataFrame, comparisons: pd.DataFrame,
            report: AblationReport, **inputs: Mapping[str, Any]
            ) -> tuple[pd.DataFrame, Figure, str]:
        """The map table, its heat map and the summary (best drop per pool, where it matters)."""
        rows = []
        for arm, (row, column) in self.cells.items():
            line = results.set_index("arm").loc[arm]
            kept = inputs[f"{self.pools[row]}__kept"]["arms"].get(arm, {})
            cas = inputs[f"{self.pools[row]}__cas"]["arms"].get(arm, {})
            pool = inputs[f"{self.pools[row]}__pool"]
            rows.append({"arm": arm, "pool": row, "column": column, "gain_pp": line["gain_pp"],
                         "gain_ci_low": line["gain_ci_low"], "gain_ci_high": line["gain_ci_high"],
                         "verdict": line["verdict"],
                         "kept_label_fidelity": kept.get("label_fidelity"),
                         "kept_cas": cas.get("cas"),
                         "pool_label_fidelity": pool.get("label_fidelity"),
                         "pool_cas": pool.get("cas")})
        grid = pd.DataFrame(rows, columns=MAP_COLUMNS)
        return grid, heat_map(grid, report.title), self.summary(grid, comparisons, report)

    def summary(self, grid: pd.DataFrame, comparisons: pd.DataFrame,
                report: AblationReport) -> str:
        """Per pool: the best column, and every filtered column against the pool's first with
        its verdict; then where the threshold matters, where it is shown not to, and where it
        is not yet shown."""
        tested = comparisons.set_index(["arm", "reference"])
        lines = [f"**{report.title}** (gain over the baseline; each pool's filtered cells "
                 f"against its first, Holm α = {report.alpha}, margin "
                 f"{report.equivalence_margin_pp} pp):", ""]
        verdicts: dict[str, list[str]] = {}
        for row, cells in grid.groupby("pool", sort=False):
            reference, best = cells.iloc[0], cells.loc[cells["gain_pp"].astype(float).idxmax()]
            against = []
            for cell in cells.iloc[1:].to_dict("records"):
                found = tested.loc[(cell["arm"], reference["arm"])]
                against.append(f"{cell['column']} {float(found['diff_pp']):+.2f} pp "
                               f"{found['verdict']}")
                verdicts.setdefault(row, []).append(str(found["verdict"]))
            lines.append(f"- {row}: best {best['column']} (gain {float(best['gain_pp']):+.2f} "
                         f"pp); against {reference['column']}: {'; '.join(against) or 'none'}")
        matters = [row for row, v in verdicts.items() if {"better", "worse"} & set(v)]
        ruled_out = [row for row, v in verdicts.items() if set(v) == {"equivalent"}]
        open_rows = [row for row in verdicts if row not in matters + ruled_out]
        lines += ["", f"The threshold matters (a filtered cell better or worse than none) at: "
                  f"{', '.join(matters) or 'none'}; shown not to matter (every filtered cell "
                  f"equivalent within the margin) at: {', '.join(ruled_out) or 'none'}; not yet "
                  f"shown at: {', '.join(open_rows) or 'none'}."]
        return "\n".join(lines) + "\n"


def _ink(rgba: tuple[float, ...]) -> str:
    """Black text on a light cell, white on a dark one."""
    return "k" if 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] > 0.5 else "w"


def _coordinate(name: str) -> str:
    """A grid coordinate as a reader writes it: `guidance_scale_1p0` -> `guidance_scale 1.0`."""
    key, _, value = name.rpartition("_")
    return f"{key} {value.replace('p', '.')}" if key else name


def heat_map(grid: pd.DataFrame, title: str) -> Figure:
    """Gain over the baseline (with its CI), kept-set label fidelity and kept-set CAS over the
    grid."""
    rows, columns = list(dict.fromkeys(grid["pool"])), list(dict.fromkeys(grid["column"]))
    fig = Figure(figsize=(5 * 3, 1.2 + 0.9 * len(rows)), layout="constrained")
    fig.suptitle(title)
    panels = (("gain_pp", "gain over baseline (pp)", "RdBu"),
              ("kept_label_fidelity", "kept-set label fidelity", "viridis"),
              ("kept_cas", "kept-set CAS", "viridis"))
    for axis, (key, name, cmap) in zip(fig.subplots(1, 3), panels, strict=True):
        values = np.full((len(rows), len(columns)), np.nan)
        for _, cell in grid.iterrows():
            value = cell[key]
            values[rows.index(cell["pool"]), columns.index(cell["column"])] = (
                np.nan if value is None else float(value))
        # The gain's colours are centred on 0 (red: worse than the baseline, blue: better).
        limits = {}
        if key == "gain_pp":
            finite = np.abs(values[~np.isnan(values)])
            bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
            limits = {"vmin": -bound, "vmax": bound}
        image = axis.imshow(values, cmap=cmap, aspect="auto", **limits)
        for (i, j), value in np.ndenumerate(values):
            text = "n/a" if np.isnan(value) else f"{value:.2f}"
            if key == "gain_pp" and not np.isnan(value):
                cell = grid[(grid["pool"] == rows[i]) & (grid["column"] == columns[j])].iloc[0]
                text += f"\n[{float(cell['gain_ci_low']):+.2f}, {float(cell['gain_ci_high']):+.2f}]"
            axis.text(j, i, text, ha="center", va="center", fontsize=8,
                      color=_ink(image.cmap(image.norm(value))) if not np.isnan(value) else "k")
        axis.set_xticks(range(len(columns)), map(_coordinate, columns), rotation=30, fontsize=8)
        axis.set_yticks(range(len(rows)), map(_coordinate, rows), fontsize=8)
        axis.set_title(name)
    return fig


def quality_grid(declaration: Declaration) -> QualityGrid:
    """Rows and columns of every grid cell (labels from the declared coordinates)."""
    cells: dict[str, tuple[str, str]] = {}
    pools: dict[str, str] = {}
    for arm, cell in declaration.cells.items():
        synthesis = [label(k, v) for k, v in cell.coordinates.items() if k.startswith("synthesis.")]
        rest = [label(k, v) for k, v in cell.coordinates.items()
                if not k.startswith("synthesis.")]
        row, column = "_".join(synthesis) or "pool", "_".join(rest) or "arm"
        cells[arm] = (row, column)
        pools[row] = cell.pool or SHARED_POOL
    return QualityGrid(cells, pools, dict(declaration.variants))


def create_quality_report(declaration: Declaration, fidelity: Mapping[str, str]) -> Pipeline:
    """Results table, Markdown, map table, heat map and summary of the quality ablation.

    `fidelity` maps each pool's kept-fidelity name to its generator report dataset.
    """
    grid = quality_grid(declaration)
    arms: Sequence[str] = ("baseline", *declaration.quality)
    inputs = {"report": f"params:reporting.{QUALITY}"}
    inputs.update({f"{arm}__metrics": f"{arm}.metrics" for arm in arms})
    inputs.update({f"{arm}__filter": f"{arm}.filter_summary" for arm in declaration.quality})
    maps = {"results": f"{QUALITY}_results", "comparisons": f"{QUALITY}_comparisons",
            "report": f"params:reporting.{QUALITY}"}
    maps.update({f"{name}__kept": f"{name}_kept_fidelity" for name in fidelity})
    maps.update({f"{name}__cas": f"{name}_kept_cas" for name in fidelity})
    maps.update({f"{name}__pool": report for name, report in fidelity.items()})
    return Pipeline([
        Node(grid.table, inputs, [f"{QUALITY}_results", f"{QUALITY}_comparisons"],
             name=f"{QUALITY}_results_table"),
        Node(results_markdown, [f"{QUALITY}_results", f"{QUALITY}_comparisons",
                                f"params:reporting.{QUALITY}"],
             f"{QUALITY}_results_md", name=f"{QUALITY}_results_markdown"),
        Node(grid.map, maps, [f"{QUALITY}_map", f"{QUALITY}_heatmap", f"{QUALITY}_summary"],
             name=f"{QUALITY}_map"),
    ], tags=["reporting"], namespace="reporting", prefix_datasets_with_namespace=False)
