"""The console's and the panel's pages."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from flask import g, redirect, render_template, request, url_for

from integration.core import routing
from integration.core.preview import KINDS
from integration.core.codec import conversation_from_json
from integration.core.rules import RulesError, flatten, load_rules, rules_to_json
from integration.core.calibration import merged
from integration.service.backtest import DEFAULT_COUNT, MAX_COUNT, backtest, live_rules
from integration.service.calibration import proposals
from integration.service.calibration import review as calibration_review
from integration.service.console import QUESTIONS, RESOLUTION_TYPES, SAID, VERDICTS, _when, baton, bp, forms, identity, whole_number, words
from integration.service.console.links import ticket_link
from integration.service.console.sentences import sentences
from integration.service.store import retention_days, retention_days_of, utcnow


def _store() -> Any:
    return baton().store


def _go(endpoint: str, **values: Any) -> Any:
    """Post/redirect/get, keeping the session."""
    return redirect(url_for(endpoint, s=g.token, **values), code=303)


def resolution_types(inst: Any) -> list[str]:
    """What agents choose from: the admin's list, else Baton's."""
    return list(inst.settings.get("resolution_types") or RESOLUTION_TYPES)


# overview

@bp.get("/console/")
def overview() -> Any:
    return render_template("overview.html", **_overview_context())


@bp.post("/console/retry")
def retry() -> Any:
    events, writes = _store().events.replay(g.installation.id)
    _store().rules.record_audit(g.installation.id, identity().name, "retry", {"events": events, "writes": writes})
    return _go("console.overview", retried=f"{events} event(s) and {writes} write-back(s) queued again")


@bp.post("/console/resolution-types")
def save_resolution_types() -> Any:
    types = [t.strip()[:64] for t in request.form.get("types", "").splitlines() if t.strip()]
    if not types:
        return render_template("overview.html", **_overview_context(), types_error="List at least one resolution type."), 422
    _store().installations.change_settings(g.installation.id, {"resolution_types": list(dict.fromkeys(types))}, identity().name)
    return _go("console.overview")


@bp.post("/console/console-admins")
def save_console_admins() -> Any:
    """Intercom tells Baton no teammate's role: its console admins are the teammate who installed Baton
    and the teammates ticked here, by name (the other helpdesks say who is an administrator themselves)."""
    if g.installation.provider != "intercom":
        return render_template("error.html", message="This helpdesk says itself who its administrators are."), 404
    typed = request.form.get("admins", "").replace(",", "\n").splitlines()  # ids, one a line (before the picker)
    ids = [i.strip() for i in [*request.form.getlist("admin"), *typed] if i.strip()]
    if not all(i.isascii() and i.isdigit() and len(i) <= 20 for i in ids):
        return render_template("overview.html", **_overview_context(),
                               admins_error="Choose teammates from the list."), 422
    _store().installations.change_settings(g.installation.id, {"console_admins": list(dict.fromkeys(ids))}, identity().name)
    return _go("console.overview", admins_saved="1")


@bp.post("/console/retention")
def save_retention() -> Any:
    """How many days Baton keeps customer text (README "Data lifecycle"; the hourly retention applies it)."""
    try:
        days = retention_days(request.form.get("retention_days", ""))
    except ValueError as e:
        return render_template("overview.html", **_overview_context(), retention_error=f"{str(e).capitalize()}."), 422
    _store().installations.change_settings(g.installation.id, {"retention_days": days}, identity().name)
    return _go("console.overview")


def _overview_context() -> dict[str, Any]:
    now = utcnow()
    inst = g.installation
    context = {"health": _store().decisions.health(inst.id, now - timedelta(days=1)), "now": now,
               "versions": _store().rules.versions(inst.id)[:1], "draft": _store().rules.draft(inst.id),
               "types": resolution_types(inst), "retention_days": retention_days_of(inst.settings)}
    if inst.provider == "intercom":  # console admins, chosen among the workspace's teammates by name
        names = _names()
        installer = str(inst.settings.get("api_user_id") or "")
        chosen = [str(a) for a in inst.settings.get("console_admins") or ()]
        teammates = [(i, n) for i, n in names.agent_choices() if i != installer]
        teammates += [(i, f"⚠ {names.agent(i)}") for i in chosen
                      if i not in names.agents and i != installer]
        context.update(admins=chosen, teammates=teammates,
                       installer=inst.settings.get("api_user_name") or names.agents.get(installer)
                       or f"teammate {installer}")
    return context


# roster and activity

@bp.get("/console/roster")
def roster() -> Any:
    """The groups and agents as Baton last synced them, by name; a group the rules name but the
    helpdesk no longer has is shown as such, with a link to each section of the rules naming it."""
    data, synced = _store().installations.roster(g.installation.id)
    rules, draft = live_rules(g.installation), _store().rules.draft(g.installation.id)
    stats = _store().events.group_stats(g.installation.id)
    r = routing.roster_from_json(data, rules.routing, stats)
    names = _names(rules)
    gone: dict[str, set[tuple[str, str]]] = {}
    for named in (rules, forms.tolerant(draft["rules"]) if draft else None):  # the draft is what the rules page edits
        for gid in (named.routing.groups() | set(named.scope.groups) if named else ()):
            if not names.known_group(gid):
                gone.setdefault(gid, set()).update(forms.sections_naming(named, gid))
    agents = sorted(({"id": a.id, "name": a.name or f"a {names.agent_word} without a name", "online": a.online, "load": a.load,
                      "capacity": a.capacity, "languages": a.languages, "groups": sorted(map(names.group, a.groups)),
                      "skills": sorted(map(names.skill, a.skills))} for a in r.agents), key=lambda a: a["name"].lower())
    in_order = {gid: sorted(where, key=lambda s: SECTION_KEYS.index(s[0])) for gid, where in sorted(gone.items())}
    return render_template("roster.html", roster=r, synced=synced, now=utcnow(), names=names, agents=agents, gone=in_order,
                           known=sorted(((gid, grp) for gid, grp in r.groups.items() if names.known_group(gid)),
                                        key=lambda kv: kv[1].name.lower()))


ACTIVITY_PAGE = 50
RANGES = {"1d": ("the last 24 hours", timedelta(days=1)), "7d": ("the last 7 days", timedelta(days=7)),
          "30d": ("the last 30 days", timedelta(days=30)), "": ("any time", None)}
_CURSOR = re.compile(r"(\d{1,20})-(\d{1,10})")


def _cursor(raw: str | None) -> tuple[datetime, int] | None:
    """A page boundary in a URL, ``<microseconds since the epoch>-<decision id>``; anything else is
    no boundary (the newest page), never an error."""
    m = _CURSOR.fullmatch(raw or "")
    ident = whole_number(m.group(2)) if m else None
    if m is None or ident is None:
        return None
    try:
        return datetime.fromtimestamp(int(m.group(1)) / 1_000_000, timezone.utc), ident
    except (OverflowError, OSError, ValueError):
        return None


def cursor_of(row: dict[str, Any]) -> str:
    at = row["created_at"]
    micros = (at - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    return f"{micros}-{row['id']}"


def matching_categories(query: str, names: words.Names) -> list[str] | None:
    """The categories whose name (or key) contains what the admin typed: "billing" finds the billing
    dispute topic, "person" the explicit request. None when nothing was typed."""
    q = " ".join(query.split()).lower()
    if not q:
        return None
    keys = {k for k, _ in names.categories()} | set(words.SIGNALS) | set(names.rules.segment.tiers)
    keys.add(q.replace(" ", "_"))
    return sorted(k for k in keys if q in names.category(k).lower() or q in k.lower())


@bp.get("/console/activity")
def activity() -> Any:
    """Conversations by their latest decision, the newest first, a page at a time (a ticket's every
    decision when searched by ticket); filtered by decision, category (by its name), ticket and time
    range; each ticket links to it in the helpdesk."""
    action = request.args.get("action") or None
    action = action if action in words.DECIDED else None
    category = (request.args.get("category") or "")[:100]
    ticket = (request.args.get("ticket") or "").strip().lstrip("#")[:64] or None
    span = request.args.get("range") or ""
    span = span if span in RANGES else ""
    names = _names(live_rules(g.installation))
    since = utcnow() - RANGES[span][1] if RANGES[span][1] else None
    rows, older, newer = _store().decisions.activity_page(
        g.installation.id, action=action, categories=matching_categories(category, names), ticket_id=ticket,
        since=since, before=_cursor(request.args.get("before")), after=_cursor(request.args.get("after")),
        limit=ACTIVITY_PAGE)
    for r in rows:
        r["url"] = ticket_link(g.installation, r["ticket_id"])
    filters = {k: v for k, v in (("action", action), ("category", category), ("ticket", ticket), ("range", span)) if v}
    return render_template("activity.html", rows=rows, action=action, category=category, ticket=ticket, span=span,
                           ranges={k: v[0] for k, v in RANGES.items()}, names=names, filters=filters,
                           other_filters={k: v for k, v in filters.items() if k != "ticket"},
                           older=cursor_of(rows[-1]) if rows and older else None,
                           newer=cursor_of(rows[0]) if rows and newer else None,
                           first_page=not request.args.get("before") and not request.args.get("after"))


# the agent panel

@bp.get("/panel")
def panel() -> Any:
    ticket = request.args.get("ticket", "").strip()
    if not ticket:
        return render_template("error.html", message="No ticket: open the panel from a ticket."), 400
    return render_template("panel.html", **panel_data(g.installation, ticket, identity().user_id),
                           saved=request.args.get("saved"))


@bp.post("/panel/feedback")
def feedback() -> Any:
    ticket = request.form.get("ticket", "").strip()
    error = save_feedback(g.installation, identity(), ticket, request.form)
    if error:
        return render_template("panel.html", **panel_data(g.installation, ticket, identity().user_id),
                               error=error, typed=request.form), 422
    return _go("console.panel", ticket=ticket, saved="1")


def panel_data(inst: Any, ticket: str, user_id: str | None = None) -> dict[str, Any]:
    """What the agent panel shows on a ticket (the HTML panel and Intercom's Canvas Kit card both
    read this): the latest decision with its reasons and evidence, where it was routed and the
    wait the customer was told, the customer as Baton saw them, the suggested resolution with the
    solved conversations it comes from, the feedback given so far and ``user_id``'s own latest
    (``mine``: the choice they saved, to see and change), and the question asked in the words of
    what Baton did (a conversation kept with the bot is not asked whether its escalation was right)."""
    store = _store()
    rows = store.decisions.activity(inst.id, ticket_id=ticket, limit=1)
    decision = rows[0] if rows else None
    customer = suggestions = None
    if decision is not None:
        full = store.decisions.decided_conversation(inst.id, decision["id"])
        conversation = conversation_from_json(full) if full else None
        customer = conversation.customer if conversation else None
        if conversation is not None and decision["action"] == "escalate":  # what the note suggested, each with its source
            suggestions = [s if s.url else replace(s, url=ticket_link(inst, s.ticket_id))
                           for s in baton().pipeline.suggester.suggest(inst.id, conversation)]
    names = words.names_for(store, inst, live_rules(inst))
    given = store.decisions.feedback_for(inst.id, ticket)
    question, verdicts = QUESTIONS.get((decision or {}).get("action"), ("Baton's decision was …", VERDICTS))
    route = dict((decision or {}).get("route") or {})
    if route.get("group_id") and names.known_group(route["group_id"]):
        route["team"] = names.group(route["group_id"])
    mine = next((f for f in reversed(given) if user_id is not None and f["author_id"] == str(user_id)), None)
    return {"ticket": ticket, "decision": decision, "route": route, "customer": customer,
            "category": names.category((decision or {}).get("category")), "feedback": given, "mine": mine,
            "verdicts": verdicts, "question": question,
            "all_verdicts": {**VERDICTS, **SAID.get((decision or {}).get("action"), {})},
            "suggestions": suggestions or [], "types": resolution_types(inst)}


def save_feedback(inst: Any, who: Any, ticket: str, form: Any) -> str | None:
    """Store an agent's feedback (their latest counts: the figures read the last one given on a
    ticket); returns what is wrong with it, if anything."""
    verdict = form.get("verdict") or None
    resolution = form.get("resolution") or None
    missing = (form.get("missing_knowledge") or "").strip()[:4000] or None
    types = resolution_types(inst)
    if not ticket or len(ticket) > 64:
        return "No ticket: open the panel from a ticket."
    rows = _store().decisions.activity(inst.id, ticket_id=ticket, limit=1)
    _, verdicts = QUESTIONS.get(rows[0]["action"] if rows else "", ("", VERDICTS))
    if verdict is not None and verdict not in verdicts:
        return f"Choose one of the {len(verdicts)} answers."
    if resolution is not None and resolution not in types:
        return "Choose a resolution type from the list."
    if verdict is None and resolution is None and missing is None:
        return "Nothing to save: choose a verdict, a resolution type or write what the bot should have known."
    latest = next((f for f in reversed(_store().decisions.feedback_for(inst.id, ticket)) if f["author_id"] == str(who.user_id)), None)
    if latest is not None and (latest["verdict"], latest["resolution"], latest["missing_knowledge"]) == (
            verdict, resolution, missing):
        return None  # saved again unchanged: nothing new to record
    _store().decisions.record_feedback(inst.id, ticket, author_id=who.user_id, author_name=who.name, verdict=verdict,
                                       resolution=resolution, missing_knowledge=missing)
    return None


# rules: the form, the draft, the preview, publishing, versions

def _published() -> dict[str, Any]:
    return dict(g.installation.rules or {})


def _working() -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The rules the form edits (the draft if there is one, else the published ones) and the draft row."""
    draft = _store().rules.draft(g.installation.id)
    return (dict(draft["rules"]) if draft else _published()), draft


SECTION_KEYS = tuple(key for key, *_ in forms.SECTIONS)


def _section(raw: str | None) -> str:
    return raw if raw in SECTION_KEYS else SECTION_KEYS[0]


def _names(rules: Any = None) -> words.Names:
    return words.names_for(_store(), g.installation, rules)


def _rules_page(data: dict[str, Any], draft: dict[str, Any] | None, section: str, status: int = 200,
                problems: Sequence[str] = (), submitted: dict[str, str] | None = None, saved: Any = None) -> Any:
    """The rules form in sections, each with its rules in sentences; after a refused save, the
    section of the first problem is the one shown."""
    rules_ = forms.tolerant(data)
    names = _names(rules_)
    sections, orphans = forms.form_for(rules_, request.form if problems else None, problems, submitted, names=names)
    said = sentences(rules_, names)
    for s in sections:
        s.sentences = said.get(s.key, [])
    if problems:
        section = forms.section_of_problem(sections) or section
    return render_template("rules.html", sections=sections, orphans=orphans, draft=draft, section=section,
                           problems=problems, saved=saved), status


@bp.get("/console/rules")
def rules() -> Any:
    data, draft = _working()
    return _rules_page(data, draft, _section(request.args.get("section")), saved=request.args.get("saved"))


@bp.post("/console/rules")
def save_rules() -> Any:
    """Save the form as the draft (valid rules only), then stay on its section or preview."""
    data, parsed, problems, submitted = forms.check(request.form)
    section = _section(request.form.get("section"))
    if problems:
        return _rules_page(data, _store().rules.draft(g.installation.id), section, 422, problems, submitted)
    _store().rules.save_draft(g.installation.id, data, identity().name)
    if request.form.get("then") == "preview":
        return _go("console.preview")
    return _go("console.rules", saved="1", section=section)


@bp.post("/console/rules/discard")
def discard_draft() -> Any:
    _store().rules.discard_draft(g.installation.id, identity().name)
    return _go("console.rules")


@bp.get("/console/preview")
def preview() -> Any:
    """The draft replayed on the last N conversations against the published rules."""
    draft = _store().rules.draft(g.installation.id)
    if draft is None:
        return render_template("preview.html", report=None, draft=None, n=0)
    n = _count(request.args.get("n"))
    report = backtest(_store(), g.installation, draft["rules"], n)
    return render_template("preview.html", report=report, draft=draft, n=n, kinds=KINDS, names=_names(_loaded(draft["rules"])),
                           changes=_rule_changes(_published(), draft["rules"]))


@bp.get("/console/preview/<ticket>")
def preview_one(ticket: str) -> Any:
    """One conversation's decision under the published rules and under the draft, explained."""
    draft = _store().rules.draft(g.installation.id)
    report = backtest(_store(), g.installation, draft["rules"], ticket=ticket) if draft else None
    if report is None or not report.changes:
        return render_template("error.html", message="Nothing to compare: no draft, or no kept conversation for "
                                                     "this ticket."), 404
    change = report.changes[0]
    return render_template("preview_one.html", change=change, conversation=change.conversation,
                           names=_names(_loaded(draft["rules"])), ticket_url=ticket_link(g.installation, ticket))


def _rule_changes(a: Any, b: Any) -> list[tuple[str, str, str, str]]:
    """What differs between two rule sets as they take effect, in words: (rule, before, after, its
    path). Rules stored before a check existed load as the pipeline loads them (``stored``)."""
    loaded = [_loaded(x) for x in (a, b)]
    flat = [flatten(rules_to_json(x)) for x in loaded]
    names = _names(loaded[1])
    empty = (None, {}, [], ())  # a mapping gaining its first entry, a list field of a new entry: nothing to read
    return [(names.path(path), names.value(path, flat[0].get(path)), names.value(path, flat[1].get(path)), path)
            for path in sorted(flat[0].keys() | flat[1].keys()) if flat[0].get(path) != flat[1].get(path)
            and not (flat[0].get(path) in empty and flat[1].get(path) in empty)]


def _loaded(data: Any) -> Any:
    """Rules as they run: as the pipeline loads them, or with every bad value at its default."""
    try:
        return load_rules(data, stored=True)
    except RulesError:
        return forms.tolerant(data if isinstance(data, dict) else {})


def _next_version() -> int:
    rows = _store().rules.versions(g.installation.id)
    return (rows[0]["number"] if rows else 1) + 1


@bp.get("/console/publish")
def confirm_publish() -> Any:
    """Before publishing: what the draft changes, in rules and in the last conversations' decisions."""
    draft = _store().rules.draft(g.installation.id)
    if draft is None:
        return _go("console.preview")
    try:
        report = backtest(_store(), g.installation, draft["rules"], DEFAULT_COUNT)
    except RulesError as e:  # the engine changed since the draft was saved: back to the form
        return render_template("error.html", message=str(e)), 422
    return render_template("confirm.html", act="publish", report=report, kinds=KINDS, draft=draft,
                           changes=_rule_changes(_published(), draft["rules"]), number=_next_version(),
                           comment=(request.args.get("comment") or "")[:500])


@bp.post("/console/publish")
def publish() -> Any:
    draft = _store().rules.draft(g.installation.id)
    if draft is None:
        return _go("console.rules")
    try:
        load_rules(draft["rules"])
    except RulesError as e:  # the engine changed since the draft was saved: back to the form
        return render_template("error.html", message=str(e)), 422
    seen = request.form.get("draft_at")
    if seen is not None and seen != _stamp(draft["updated_at"]):
        return render_template("error.html", message="The draft changed since you confirmed it (saved again by "
                               f"{draft['author']} {_when(draft['updated_at'])}): review it again before publishing."), 409
    comment = (request.form.get("comment") or "").strip()[:500] or "no comment"
    number = _store().rules.publish(g.installation.id, draft["rules"], identity().name, comment)
    return _go("console.versions", published=number)


def _stamp(t: Any) -> str:
    return t.isoformat() if t else ""


NO_SUCH_VERSION = "No such version: versions are numbered 1, 2, 3 … as they are published."


@bp.get("/console/versions")
def versions() -> Any:
    rows = _store().rules.versions(g.installation.id)
    given = request.args.get("a", ""), request.args.get("b", "")
    a, b = (whole_number(raw) for raw in given)
    chosen = {n: _store().rules.version(g.installation.id, n) for n in (a, b) if n is not None}
    if (given[0] and a is None) or (given[1] and b is None) or None in chosen.values():
        return render_template("error.html", message=NO_SUCH_VERSION), 404
    diff = _rule_changes(chosen[a]["rules"], chosen[b]["rules"]) if a and b else None
    return render_template("versions.html", rows=rows, diff=diff, a=a, b=b,
                           published=whole_number(request.args.get("published")),
                           audit=_store().rules.audit_log(g.installation.id, 30))


@bp.get("/console/versions/<number>/rollback")
def confirm_rollback(number: str) -> Any:
    """Before rolling back: what going back to version ``number`` changes, in rules and in the last
    conversations' decisions (version ``number`` replayed against the live rules)."""
    version = _store().rules.version(g.installation.id, n) if (n := whole_number(number)) else None
    if version is None:
        return render_template("error.html", message=NO_SUCH_VERSION), 404
    try:
        report = backtest(_store(), g.installation, version["rules"], DEFAULT_COUNT)
    except RulesError as e:
        return render_template("error.html", message=f"Version {n} no longer loads ({e}): Baton cannot roll back "
                                                     "to it."), 422
    return render_template("confirm.html", act="rollback", report=report, kinds=KINDS, version=version,
                           changes=_rule_changes(_published(), version["rules"]), number=_next_version())


@bp.post("/console/versions/<number>/rollback")
def rollback(number: str) -> Any:
    """Roll back to version ``number``, read by ``whole_number`` (the route's int converter would
    take any count of digits, and a number past the column's range fails inside the database)."""
    version = _store().rules.version(g.installation.id, n) if (n := whole_number(number)) else None
    if version is None:
        return render_template("error.html", message=NO_SUCH_VERSION), 404
    new = _store().rules.publish(g.installation.id, version["rules"], identity().name, f"rollback to version {n}",
                                 action="rollback")
    return _go("console.versions", published=new)


def _count(raw: str | None) -> int:
    """How many conversations the preview replays: ``?n=`` within 1..MAX_COUNT, else the default."""
    n = whole_number(raw, low=0)
    return DEFAULT_COUNT if n is None else max(1, min(MAX_COUNT, n))


# calibration: what went wrong, and the rule changes that would have decided better

@bp.get("/console/calibration")
def calibration() -> Any:
    try:
        items, effects = calibration_review(_store(), g.installation, utcnow())
    except RulesError as e:  # rules stored before a check existed: say what to fix, never a 500
        return render_template("error.html", message=f"The published rules no longer load ({e}): fix them in the "
                                                     "rules form, then come back."), 422
    counts = {label: sum(1 for i in items if i.label == label) for label in ("over", "under", "right")}
    return render_template("calibration.html", effects=effects, counts=counts, reviewed=len(items))


@bp.post("/console/calibration/draft")
def calibration_draft() -> Any:
    """Open a suggested change as a draft, straight into the preview."""
    chosen = next((c for c in proposals(_store(), g.installation, utcnow()) if c.title == request.form.get("title")),
                  None)
    if chosen is None:
        return render_template("error.html", message="That suggestion no longer applies: reload the review."), 409
    _store().rules.save_draft(g.installation.id, merged(_published(), chosen.patch), identity().name)
    return _go("console.preview")
