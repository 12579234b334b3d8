"""Output of every mode: a Markdown table on stdout (and in summary.md), results.json, PNG charts
drawn by gnuplot. A chart that gnuplot cannot draw is a warning, never a failed run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

GNUPLOT_TIMEOUT_SECONDS = 60


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; numeric-looking columns are right-aligned."""
    def numeric(col: int) -> bool:  # every cell that holds a value starts with a digit (or a sign)
        cells = [r[col].lstrip("+-") for r in rows if r[col] not in ("", "n/a", "—")]
        return bool(cells) and all(c[:1].isdigit() for c in cells)
    aligns = ["---:" if numeric(i) else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(aligns) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def emit(run_dir: Path, markdown: str) -> None:
    """Prints the Markdown summary and appends it to summary.md."""
    print(markdown, flush=True)
    with open(run_dir / "summary.md", "a") as f:
        f.write(markdown + "\n")


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def warn(message: str) -> None:
    print(f"loadtest: {message}", file=sys.stderr, flush=True)


# --- number formats ---------------------------------------------------------------------------

def count(n: float) -> str:
    return f"{n:,.0f}"


def ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}×"


def fixed(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"


def mib(kib: float) -> str:
    return f"{kib / 1024:,.1f}"


# --- charts -----------------------------------------------------------------------------------

def _gnuplot(script: Path) -> bool:
    try:
        done = subprocess.run(["gnuplot", str(script)], capture_output=True, text=True,
                              timeout=GNUPLOT_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as e:
        warn(f"gnuplot failed: {e}")
        return False
    if done.returncode != 0:
        warn(f"gnuplot failed on {script}: {done.stderr.strip()}")
        return False
    return True


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def bar_chart(png: Path, title: str, ylabel: str, categories: list[str],
              series: dict[str, list[float | None]]) -> bool:
    """Clustered bars: one cluster per category, one bar per series. None: no bar."""
    data = png.with_suffix(".dat")
    with open(data, "w") as f:
        f.write("category " + " ".join(_quote(name) for name in series) + "\n")
        for i, category in enumerate(categories):
            values = ["NaN" if s[i] is None else f"{s[i]:.6g}" for s in series.values()]
            f.write(_quote(category) + " " + " ".join(values) + "\n")
    plots = ", ".join(f"{_quote(str(data))} using {i + 2}:xtic(1) title columnhead({i + 2})"
                      for i in range(len(series)))
    script = png.with_suffix(".gp")
    script.write_text(f"""set terminal pngcairo size 1200,600 noenhanced font ",10"
set output {_quote(str(png))}
set title {_quote(title)}
set ylabel {_quote(ylabel)}
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set key outside right top vertical
set xtics rotate by -20
plot {plots}
""")
    return _gnuplot(script)


def line_chart(png: Path, title: str, csv: Path, x_column: int, y_column: int, xlabel: str, ylabel: str,
               y_scale: float = 1.0, hline: float | None = None, hline_title: str = "") -> bool:
    """One line of a CSV (header row, comma-separated); y values multiplied by y_scale."""
    script = png.with_suffix(".gp")
    extra = f", {hline} with lines dashtype 2 title {_quote(hline_title)}" if hline is not None else ""
    script.write_text(f"""set terminal pngcairo size 1200,500 noenhanced font ",10"
set output {_quote(str(png))}
set datafile separator ","
set key autotitle columnhead
set title {_quote(title)}
set xlabel {_quote(xlabel)}
set ylabel {_quote(ylabel)}
set grid
set yrange [0:*]
plot {_quote(str(csv))} using {x_column}:(${y_column}*{y_scale}) with lines linewidth 2 title {_quote(ylabel)}{extra}
""")
    return _gnuplot(script)
