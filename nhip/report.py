"""The HTML report of a validation: one chart and one table per scenario, self-contained.

Charts are PNGs drawn with matplotlib and embedded as data URIs, so the report is one
file that opens anywhere without a network.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

COLUMNS = (("mean_delay_s", "mean delay (s)"), ("mean_waiting_s", "waiting (s)"),
           ("stops_per_vehicle", "stops/veh"), ("throughput_veh_per_h", "served veh/h"),
           ("never_entered", "never entered"), ("teleports", "teleports"))


def write_report(results: dict, path: Path) -> Path:
    sections = [_section(case, data["controllers"], results["seeds"])
                for case, data in results["scenarios"].items()]
    failed = [f"{f['scenario']} under {f['controller']}, seed {f['seed']} failed: {f['error']}"
              for f in results.get("failed_runs", [])]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in [*results.get("notes", []), *failed])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nhịp validation report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }}
table {{ border-collapse: collapse; margin: 0.5em 0 2em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
td.best {{ font-weight: bold; background: #e8f5e9; }}
</style></head><body>
<h1>Nhịp validation report</h1>
<p>Seeds: {", ".join(map(str, results["seeds"]))}. Mean delay per vehicle is time loss plus
departure delay over every trip, unfinished ones included, with vehicles that never entered
the network charged from their intended departure to the end. Bars show the mean over seeds;
whiskers the best and worst seed.</p>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
{"".join(sections)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def _section(case: str, table: dict, seeds: list[int]) -> str:
    if not table:
        return (f"<h2>{html.escape(case)}</h2><p>No run finished on this network; the notes "
                "above say why.</p>")
    best = min(table, key=lambda name: table[name]["mean_delay_s"])
    header = "".join(f"<th>{label}</th>" for _, label in COLUMNS)
    rows = []
    for name, row in table.items():
        cells = "".join(f"<td>{row['mean'][key]:.2f}</td>" if key != "mean_delay_s" else
                        f"<td class=\"{'best' if name == best else ''}\">{row['mean_delay_s']:.1f}"
                        f" (worst {row['worst']['mean_delay_s']:.1f})</td>"
                        for key, _ in COLUMNS)
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    return (f"<h2>{html.escape(case)}</h2>"
            f"<img alt=\"mean delay by controller for {html.escape(case)}\" "
            f"src=\"data:image/png;base64,{_chart(case, table)}\">"
            f"<table><tr><th>controller</th>{header}</tr>{''.join(rows)}</table>")


def _chart(case: str, table: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    means = [table[n]["mean_delay_s"] for n in names]
    per_seed = [[f["mean_delay_s"] for f in table[n]["seeds"].values()] for n in names]
    low = [m - min(v) for m, v in zip(means, per_seed)]
    high = [max(v) - m for m, v in zip(means, per_seed)]
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    colours = ["#2e7d32" if n == "adaptive" else "#90a4ae" for n in names]
    ax.bar(names, means, yerr=[low, high], color=colours, capsize=4)
    ax.set_ylabel("mean delay per vehicle (s)")
    ax.set_title(case)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
