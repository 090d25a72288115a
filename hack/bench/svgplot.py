"""Hand-written SVG for docs/benchmarks.svg (no plotting library needed).

lifecycle_svg draws, per runtime, every sample of wall time as a dot, the p10–p90 range as a
bar, the median as a tick with its value, and the median CPU time as a second, thinner bar.
"""

from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]


def _pct(xs, p):
    s = sorted(xs)
    if not s:
        return 0.0
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _nice_max(v):
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if v <= step * 10:
            return step * (int(v / step) + 1), step
    return v * 1.1, v / 10


def lifecycle_svg(series, title, markers=()):
    """series: [(name, wall_ms[], cpu_ms[])]; markers: [(ms, label)] drawn as dashed lines."""
    W, left, right, top, row = 860, 150, 40, 60, 70
    H = top + row * len(series) + 60
    allv = [x for _, w, c in series for x in w + c] or [1.0]
    vmax, step = _nice_max(_pct(allv, 98) * 1.15)
    plotw = W - left - right

    def X(v):
        return left + min(v, vmax) / vmax * plotw

    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
         'font-family="sans-serif" font-size="12">' % (W, H, W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>' % (left, escape(title)),
         '<text x="%d" y="44" fill="#555">dots: every sample (wall); thick bar: p10–p90 wall; '
         'tick + label: median wall; thin bar: median CPU (user+sys)</text>' % left]
    t = 0.0
    while t <= vmax + 1e-9:
        x = X(t)
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, top - 6, x, H - 44))
        o.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%g</text>' % (x, H - 28, t))
        t += step
    o.append('<text x="%d" y="%d" text-anchor="middle">milliseconds</text>' % (left + plotw / 2, H - 10))
    for k, (v, label) in enumerate(markers):
        x = X(v)
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#a00" stroke-dasharray="4,3"/>' % (x, top - 6, x, H - 44))
        o.append('<text x="%.1f" y="%d" fill="#a00" font-size="11" text-anchor="middle">%s</text>'
                 % (x, H - 46 - 12 * k, escape(label)))
    for i, (name, wall, cpu) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        y = top + i * row + row / 2
        o.append('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" font-weight="bold">%s</text>'
                 % (left - 10, y, escape(name)))
        if not wall:
            o.append('<text x="%d" y="%.1f" fill="#a00">no successful sample</text>' % (left + 5, y))
            continue
        p10, p50, p90 = _pct(wall, 10), _pct(wall, 50), _pct(wall, 90)
        o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="14" fill="%s" fill-opacity="0.35"/>'
                 % (X(p10), y - 16, max(X(p90) - X(p10), 1), c))
        for j, v in enumerate(wall):
            jitter = ((j * 37) % 11 - 5) * 0.9
            o.append('<circle cx="%.1f" cy="%.1f" r="2" fill="%s" fill-opacity="0.6"/>' % (X(v), y - 9 + jitter, c))
        o.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="2"/>'
                 % (X(p50), y - 20, X(p50), y + 2))
        o.append('<text x="%.1f" y="%.1f" font-size="11">%.1f</text>' % (X(p50) + 4, y - 19, p50))
        if cpu:
            cm = _pct(cpu, 50)
            o.append('<rect x="%d" y="%.1f" width="%.1f" height="6" fill="%s"/>' % (left, y + 6, max(X(cm) - left, 1), c))
            o.append('<text x="%.1f" y="%.1f" font-size="11" fill="#333">CPU %.1f</text>' % (X(cm) + 4, y + 12, cm))
    o.append('</svg>')
    return "\n".join(o) + "\n"
