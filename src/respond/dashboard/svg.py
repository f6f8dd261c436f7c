"""Server-side SVG charts: small, dependency-free, and escaped (model names are user input)."""

from __future__ import annotations

import time

from markupsafe import Markup, escape

COLORS = ["#2f6fb3", "#e07b39", "#2e8b57", "#b33a3a", "#7a5cb8", "#8c6d31", "#5b6575"]
W, H, PAD_L, PAD_B, PAD_T = 720, 246, 56, 38, 26


def _fmt(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return f"{n:g}" if isinstance(n, float) and not n.is_integer() else str(int(n))


def _legend(names: list[str], y: int) -> str:
    out, x = [], PAD_L
    for i, name in enumerate(names):
        color = COLORS[i % len(COLORS)]
        out.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14}" y="{y + 9}" font-size="11">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return "".join(out)


def _heading(title: str, unit: str) -> str:
    """The chart's title and its y unit, drawn (a `<title>` alone is only a tooltip)."""
    return (f'<text x="{PAD_L}" y="13" font-size="13" font-weight="600" class="chart-title">{escape(title)}</text>'
            f'<text x="{W - 10}" y="13" font-size="11" text-anchor="end" class="chart-unit">{escape(unit)}</text>')


def lines(title: str, series: dict[str, list[int]], since: int, step: int, unit: str = "") -> Markup:
    """One line per series over equal time buckets starting at `since`; the x axis is labelled at
    the window's start, middle and end (the end is `since + buckets * step`, now), anchored inward
    so no label is cut off at an edge."""
    names = sorted(series, key=lambda n: -sum(series[n]))
    buckets = max((len(v) for v in series.values()), default=1)
    top = max((max(v) for v in series.values() if v), default=0) or 1
    inner_w, inner_h = W - PAD_L - 10, H - PAD_B - PAD_T - 18

    def x_of(i: int) -> float:  # a bucket's point sits at its middle: the edges are the window's ends
        return PAD_L + inner_w * (i + 0.5) / max(1, buckets)

    def y_of(v: float) -> float:
        return PAD_T + inner_h * (1 - v / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{escape(title)}" class="chart">', f"<title>{escape(title)}</title>", _heading(title, unit)]
    for frac in (0, 0.5, 1):
        y = y_of(top * frac)
        parts.append(f'<line x1="{PAD_L}" x2="{W - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d8dde6"/>'
                     f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_fmt(top * frac)}</text>')
    span = buckets * step
    for frac, anchor, x in ((0.0, "start", PAD_L), (0.5, "middle", PAD_L + inner_w / 2), (1.0, "end", W - 10)):
        if step % 86400 == 0:  # whole days: name the first, middle and last day under their points
            i = min(buckets - 1, int(buckets * frac))
            label = time.strftime("%m-%d", time.gmtime(since + i * step))
            x = min(max(x_of(i), PAD_L + 16), W - 26)
            anchor = "middle"
        else:  # the window's start, middle and end (its end is now)
            label = time.strftime("%m-%d %H:%M", time.gmtime(since + round(span * frac)))
        parts.append(f'<text x="{x:.1f}" y="{H - PAD_B + 14}" font-size="11" text-anchor="{anchor}" '
                     f'class="x-label">{label}</text>')
    for n, name in enumerate(names):
        pts = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(series[name]))
        parts.append(f'<polyline fill="none" stroke-width="2" stroke="{COLORS[n % len(COLORS)]}" points="{pts}">'
                     f"<title>{escape(name)}</title></polyline>")
    parts.append(_legend(names, H - 12))
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(title: str, groups: dict[str, dict[str, float]], unit: str = "s", axis: str = "seconds") -> Markup:
    """Grouped bars: one group per model, one bar per key (p50, p90, p99)."""
    names = sorted(groups)
    keys = ["p50", "p90", "p99"]
    top = max((v for g in groups.values() for v in g.values()), default=0) or 1
    inner_h = H - PAD_B - PAD_T - 18
    group_w = (W - PAD_L - 10) / max(1, len(names))
    bar_w = max(4.0, min(28.0, group_w / (len(keys) + 1)))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{escape(title)}" class="chart">', f"<title>{escape(title)}</title>", _heading(title, axis),
             f'<text x="{PAD_L - 6}" y="{PAD_T + 4}" font-size="11" text-anchor="end">{_fmt(top)}{unit}</text>']
    for g, name in enumerate(names):
        x0 = PAD_L + g * group_w + bar_w / 2
        for k, key in enumerate(keys):
            v = groups[name].get(key, 0.0)
            h = inner_h * v / top
            parts.append(f'<rect x="{x0 + k * bar_w:.1f}" y="{PAD_T + inner_h - h:.1f}" width="{bar_w - 2:.1f}" '
                         f'height="{h:.1f}" fill="{COLORS[k]}"><title>{escape(name)} {key}: {v:.2f}{unit}</title></rect>')
        parts.append(f'<text x="{x0:.1f}" y="{H - PAD_B + 14}" font-size="11">{escape(name[:28])}</text>')
    parts.append(_legend(keys, H - 12))
    parts.append("</svg>")
    return Markup("".join(parts))
