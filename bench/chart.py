#!/usr/bin/env python3
"""Renders a benchmark result (bench/results/<run>.md, the closed-loop table) as an SVG bar
chart: requests per second per query and target, LearnGraph's ratio over each peer beside the
bars. bench/run calls it after every run; the README shows bench/results/latest.svg.

    python3 bench/chart.py bench/results/2026-11-30T0753.md [out.svg]
"""
import html
import pathlib
import sys

COLOURS = {"learngraph": "#1f6feb", "postgraphile": "#8b949e", "apollo": "#d29922", "floor (pgbench)": "#2da44e"}


def rows(markdown: str):
    """(query, target, req/s, ours/this) of the closed-loop table, in order."""
    out, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("| query | target | req/s"):
            inside = True
            continue
        if inside and not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not inside or cells[0].startswith("---") or len(cells) < 3:
            continue
        try:
            rps = float(cells[2])
        except ValueError:
            continue  # "cannot express it"
        out.append((cells[0], cells[1], rps, cells[-1]))
    return out


def render(title: str, data) -> str:
    queries = list(dict.fromkeys(q for q, *_ in data))
    width, left, right, bar, gap, group_gap, top = 860, 70, 240, 13, 3, 14, 56
    top_rps = max(r for _, _, r, _ in data)
    plot = width - left - right
    y = top
    parts = []
    for q in queries:
        members = [d for d in data if d[0] == q]
        group_top = y
        for _, target, rps, ratio in members:
            w = max(1.0, plot * rps / top_rps)
            colour = COLOURS.get(target, "#6e7781")
            label = f"{rps:,.0f} req/s"
            if target != "learngraph" and ratio:
                label += f"  (LearnGraph {ratio}×)"
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"><title>'
                         f'{html.escape(q)} {html.escape(target)}: {label}</title></rect>')
            parts.append(f'<text x="{left + w + 6:.1f}" y="{y + bar - 3}" class="v">{html.escape(label)}</text>')
            y += bar + gap
        parts.append(f'<text x="{left - 10}" y="{(group_top + y - gap) / 2 + 4:.1f}" class="q">{html.escape(q)}</text>')
        y += group_gap
    legend_x = left
    legend = []
    for name, colour in COLOURS.items():
        legend.append(f'<rect x="{legend_x}" y="34" width="12" height="12" fill="{colour}"/>'
                      f'<text x="{legend_x + 17}" y="44" class="l">{html.escape(name)}</text>')
        legend_x += 40 + 8 * len(name)
    height = y + 10
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif">',
        "<style>.t{font-size:15px;font-weight:600;fill:#24292f}.q{font-size:13px;font-weight:600;fill:#24292f;"
        "text-anchor:end}.v{font-size:11px;fill:#57606a}.l{font-size:12px;fill:#24292f}</style>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="22" class="t">{html.escape(title)}</text>',
        *legend,
        *parts,
        "</svg>",
        "",
    ])


def main() -> None:
    source = pathlib.Path(sys.argv[1])
    out = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else source.parent / "latest.svg"
    data = rows(source.read_text())
    if not data:
        sys.exit(f"chart: no closed-loop table in {source}")
    title = f"Requests per second, closed loop (wrk, 16 connections): bench/results/{source.name}"
    out.write_text(render(title, data))
    print(f"chart: {out}")


if __name__ == "__main__":
    main()
