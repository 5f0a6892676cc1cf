"""The analytics page (``/console/analytics``), its CSV export per table and the knowledge export.

How the charts are drawn: as SVG written by the server into the page. The console must work
where no script runs (the Freshdesk embedding injects pages as HTML fragments, whose scripts never
run), under a CSP without inline scripts or inline styles, with nothing from a CDN, and in a
320 px sidebar: a chart library (Chart.js, Vega, Plotly) draws on a canvas from JavaScript and
would show nothing there, and images rendered on the server (matplotlib PNGs) are blurry when
scaled, heavy, and unreadable to screen readers and text search. Inline SVG has none of these
problems: it is markup, so it renders without script in every embedding, scales to the sidebar
through its viewBox, takes its colours from classes in a static stylesheet (``charts.css``; the
geometry is in attributes, which the CSP does not treat as styles, and lines carry
``stroke="currentColor"`` so a chart stays legible where that stylesheet is not loaded), and
carries a title for assistive technology. Each chart has the table of the same figures beside it.

The geometry is computed here (``Chart`` and friends), the markup is in ``_charts.html``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

from flask import Response, g, render_template, request

import connectors
from integration.core import analytics
from integration.service.console import baton, bp
from integration.service.reports import handoff_report, topic_labels

DEFAULT_PERIOD = "30d"
WIDTH = 320  # the viewBox width: one unit is one CSS pixel in a 320 px sidebar
VALUE_W = 112  # room right of the longest bar for its value (labels sit above their bar)
ROW = 34.0  # a bar's row: its label line, then the bar


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the value as shown at the end of the bar
    y: float  # top of the row
    width: float  # of the bar
    whisker: float | None = None  # x where a whisker from the bar's end stops (p90)
    bad: bool = False
    small: bool = False  # too few cases to compare: drawn faint, and its text says so


@dataclass(frozen=True)
class Bars:
    title: str
    height: float
    bars: tuple[Bar, ...]
    empty: str = "No data in this period."


def bars(title: str, items: Sequence[tuple[str, float | None, str]], whiskers: Sequence[float | None] = (),
         bad: bool = False, empty: str = "No data in this period.", small: Sequence[bool] = ()) -> Bars:
    """Horizontal bars, one row per (label, value, text) with a value, each with its whisker (the
    same position in ``whiskers``) if any; scaled on the largest value or whisker. A bar whose
    ``small`` (same position) is true is a small sample: drawn faint, "small sample" after its label
    (the label line spans the chart; the value beside the bar has little room)."""
    padded = list(whiskers) + [None] * (len(items) - len(whiskers))
    few = list(small) + [False] * (len(items) - len(small))
    usable = [(label, value, text, w, f) for (label, value, text), w, f in zip(items, padded, few) if value is not None]
    top = max([v for _, v, _, _, _ in usable] + [w for _, _, _, w, _ in usable if w is not None], default=0.0) or 1.0
    span = WIDTH - VALUE_W
    out = tuple(Bar(f"{label} · small sample" if f else label, text, i * ROW,
                    round(max(1.0, span * value / top), 1) if value else 0.0,
                    round(span * w / top, 1) if w is not None else None, bad, f)
                for i, (label, value, text, w, f) in enumerate(usable))
    return Bars(title, ROW * max(1, len(out)) + 4, out, empty)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # shown on hover (<title>) and in the table
    small: bool = False  # too few conversations to compare: a hollow point


@dataclass(frozen=True)
class Line:
    title: str
    segments: tuple[tuple[Point, ...], ...]  # broken where a week had no conversation
    grid: tuple[tuple[float, str], ...]  # (y, label) of the horizontal lines
    ticks: tuple[tuple[float, str, str], ...]  # (x, week, text-anchor) labels under the axis
    small: str | None = None  # what the hollow points are, when there are any
    height: float = 150.0
    left: float = 40.0
    bottom: float = 120.0


def line(title: str, points: Sequence[tuple[str, float | None, str]], small: Sequence[bool] = (),
         small_note: str | None = None) -> Line:
    """A line of shares (0..1) over weeks; the y axis goes to the next 10 % above the highest. A point
    whose ``small`` (same position) is true is hollow (too few to compare), and ``small_note`` says so."""
    few = list(small) + [False] * (len(points) - len(small))
    left, right, top_y, bottom = 40.0, WIDTH - 12.0, 12.0, 120.0
    highest = max((v for _, v, _ in points if v is not None), default=0.0)
    ceiling = max(0.1, min(1.0, -(-round(highest * 100) // 10) / 10))
    step = (right - left) / max(1, len(points) - 1)
    segments: list[list[Point]] = [[]]
    for i, (_, value, label) in enumerate(points):
        if value is None:
            segments.append([])
            continue
        x = left + step * i if len(points) > 1 else (left + right) / 2
        y = bottom - (bottom - top_y) * min(value, ceiling) / ceiling
        segments[-1].append(Point(round(x, 1), round(y, 1), label, few[i]))
    grid = tuple((round(bottom - (bottom - top_y) * f, 1), f"{ceiling * f:.0%}") for f in (0.0, 0.5, 1.0))
    n = len(points)
    shown = sorted({0, n - 1, (n - 1) // 2}) if n > 2 else list(range(n))
    ticks = tuple((round(left + step * i if n > 1 else (left + right) / 2, 1), points[i][0],
                   "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle") for i in shown)
    return Line(title, tuple(tuple(s) for s in segments if s), grid, ticks, small_note if any(few) else None)


@dataclass(frozen=True)
class Whisker:
    label: str
    text: str
    y: float
    x: float | None  # the estimate; None: too few to draw
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Whiskers:
    title: str
    height: float
    rows: tuple[Whisker, ...]
    axis: tuple[tuple[float, str], ...]  # (x, label) on the 0–100 % axis
    left: float = 8.0
    right: float = WIDTH - 8.0


def whiskers(title: str, csats: Sequence[analytics.Csat]) -> Whiskers:
    """Each group's CSAT as a dot with its 95 % interval on a 0–100 % axis; words when too few."""
    left, right = 8.0, WIDTH - 8.0

    def x(share: float) -> float:
        return round(left + (right - left) * share, 1)

    rows = []
    for i, c in enumerate(csats):
        low, high = c.interval or (None, None)
        rows.append(Whisker(c.group, c.summary, i * 58.0, x(c.share) if c.share is not None else None,
                            x(low) if low is not None else None, x(high) if high is not None else None))
    axis = tuple((x(f), f"{f:.0%}") for f in (0.0, 0.25, 0.5, 0.75, 1.0))
    return Whiskers(title, 58.0 * len(rows) + 24, tuple(rows), axis)


def _period(raw: str | None, default: str | None) -> str | None:
    """The period asked for (one of analytics.PERIODS), the default when none; ValueError otherwise."""
    if raw in (None, ""):
        return default
    if raw == "all" and default is None:
        return None
    if raw not in analytics.PERIODS:
        raise ValueError(f"since must be one of {', '.join(analytics.PERIODS)} (got {raw[:20]!r})")
    return raw


def _report(since: str | None) -> analytics.Report:
    now = baton().pipeline.clock()
    start = now - timedelta(days=analytics.PERIODS[since]) if since else None
    return handoff_report(baton().store, g.installation.id, now, start)


def _refuse(message: str) -> Any:
    return render_template("error.html", message=message), 400


def charts(rep: analytics.Report, topics: dict[str, str] | None = None) -> dict[str, Any]:
    """What the page draws, from the same report as its tables; a figure on fewer than
    ``analytics.SMALL_SAMPLE`` cases is marked as a small sample."""
    h = rep.handoff
    few = analytics.SMALL_SAMPLE

    def share(x: float | None) -> str:
        return "–" if x is None else f"{x:.0%}"

    def cat(key: str) -> str:
        return analytics.category_label(key, topics)

    def durations(title: str, ds: tuple[analytics.Duration, ...]) -> Bars:
        rows = ds[1:]  # per category (the first is every category)
        return bars(title, [(cat(d.category), d.median, f"{d.median:,.0f} min, p90 {d.p90:,.0f}"
                             if d.median is not None else "–") for d in rows], [d.p90 for d in rows],
                    small=[d.small for d in rows])

    def misjudged(title: str, m: analytics.Misjudgements) -> Bars:
        rows = [x for x in m.by_category[1:] if x.count]
        return bars(title, [(cat(x.key), x.count, f"{x.count} of {x.base} ({share(x.share)})") for x in rows],
                    bad=True, empty="None in this period.", small=[x.small for x in rows])

    def week(r: analytics.Rate) -> str:
        text = f"{r.week}: {share(r.rate)} ({r.escalated} of {r.conversations})"
        return f"{text}, only {r.conversations} conversations: too few to compare" if r.small else text

    hits = [s for s in rep.suggestions[1:] if s.judged]
    return {
        "weekly": line("Handoff rate per week (all categories)", [(r.week, r.rate, week(r)) for r in h.weekly],
                       small=[r.small for r in h.weekly],
                       small_note=f"A hollow point is a week with fewer than {few} conversations with a bot (a week "
                                  "the period only begins or ends in, or a quiet one): too few to compare with the others."),
        "categories": bars("Handoff rate by category",
                           [(cat(r.category), r.rate, f"{share(r.rate)} ({r.escalated} of {r.conversations})")
                            for r in h.by_category], small=[r.small for r in h.by_category]),
        "resolution": durations("Median resolution time after handoff, with p90", rep.resolution),
        "preparation": durations("Median preparation time, with p90", rep.preparation),
        "csat": whiskers("CSAT with its 95 % interval", rep.csat),
        "over": misjudged("Over-escalations by category", rep.over),
        "under": misjudged("Under-escalations by category", rep.under),
        "suggestions": bars("Suggestion hit rate by category",
                            [(cat(s.category), s.rate, f"{share(s.rate)} ({s.hits} of {s.judged})") for s in hits],
                            empty="No suggested resolution judged in this period.", small=[s.small for s in hits]),
    }


@bp.get("/console/analytics")
def analytics_page() -> Any:
    try:
        since = _period(request.args.get("since"), DEFAULT_PERIOD)
    except ValueError as e:
        return _refuse(str(e))
    rep = _report(since)
    try:
        bot = connectors.get(g.installation.provider).descriptor.bot_name
    except KeyError:  # a provider this deployment does not ship: the generic word
        bot = "the bot"
    topics = topic_labels(g.installation)
    return render_template("analytics.html", report=rep, tables=analytics.tables(rep, topics),
                           charts=charts(rep, topics), bot=bot, since=since, periods=analytics.PERIODS,
                           shown=analytics.shown, gap_minutes=analytics.GAP_MINUTES, min_ratings=analytics.MIN_RATINGS,
                           ratings=analytics.ratings(g.installation.provider), label=analytics.category_label,
                           topics=topics)


@bp.get("/console/analytics.csv")
def analytics_csv() -> Any:
    try:
        since = _period(request.args.get("since"), DEFAULT_PERIOD)
    except ValueError as e:
        return _refuse(str(e))
    name = request.args.get("table", "")
    if name not in analytics.TABLES:
        return _refuse(f"table must be one of {', '.join(analytics.TABLES)} (got {name[:40]!r})")
    table = analytics.tables(_report(since), topic_labels(g.installation))[name]
    return _download(analytics.to_csv(table), "text/csv", f"baton-{name}-{since}.csv")


@bp.get("/console/knowledge.<fmt>")
def knowledge_export(fmt: str) -> Any:
    """The resolved handoffs by intent with the agents' answers, for the bot's knowledge base: the
    whole history, or ``?since=`` one of the periods."""
    if fmt not in ("json", "csv"):
        return render_template("error.html", message="The knowledge export is knowledge.json or knowledge.csv."), 404
    try:
        since = _period(request.args.get("since"), None)
    except ValueError as e:
        return _refuse(str(e))
    rep = _report(since)
    name = f"baton-knowledge-{since or 'all'}.{fmt}"
    if fmt == "csv":
        return _download(analytics.to_csv(analytics.tables(rep, topic_labels(g.installation))["knowledge"]), "text/csv",
                         name)
    body = {"installation": g.installation.id, **analytics.knowledge_json(rep, topic_labels(g.installation))}
    return _download(json.dumps(body, ensure_ascii=False, indent=1), "application/json", name)


def _download(text: str, mimetype: str, filename: str) -> Response:
    return Response(text, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
