"""Command line: ``python -m integration <command>``."""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from pathlib import Path

import connectors
from integration.core.rules import RulesError, load_rules_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration", description="Baton, the AI-to-human handoff engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run Baton end to end against the Zendesk sandbox")
    demo.add_argument("--serve", action="store_true", help="keep serving so the tickets can be opened in a browser")
    demo.add_argument("--home", help="folder for the demo's database (default: a new temporary folder)")

    ev = sub.add_parser("evaluate", help="decide for each conversation of a JSONL file")
    ev.add_argument("input", help="JSONL file of conversations, or - for standard input")
    ev.add_argument("--output", help="write decisions here instead of standard output")
    ev.add_argument("--rules", help="JSON rules file (defaults apply to what it leaves out)")

    sub.add_parser("migrate", help="create or upgrade the database schema (DATABASE_URL)")
    rep = sub.add_parser("replay", help="give an installation's dead events and write-backs another chance")
    rep.add_argument("installation", help="the installation id")
    sub.add_parser("secret-key", help="print a new key for BATON_SECRET_KEY")
    bt = sub.add_parser("backtest", help="replay a rules file on an installation's last conversations: what would change")
    bt.add_argument("--installation", required=True, help="the installation id")
    bt.add_argument("--rules", required=True, help="JSON rules file (the draft)")
    bt.add_argument("--count", type=int, default=500, help="how many recent conversations (default 500)")

    rp = sub.add_parser("report", help="an installation's handoff metrics, as the console's analytics page shows them")
    rp.add_argument("--installation", required=True, help="the installation id")
    rp.add_argument("--since", default="30d", help="the period: 7d, 30d, 90d … any days, or all (default 30d)")
    kn = sub.add_parser("knowledge", help="resolved handoffs by intent with the agents' answers, and the gaps")
    kn.add_argument("--installation", required=True, help="the installation id")
    kn.add_argument("--format", choices=("json", "csv"), default="json", help="default json")
    kn.add_argument("--since", default="all", help="the period: 30d … or all (default all)")

    ru = sub.add_parser("rollups", help="the analytics' counts of closed days: where each installation's end, or "
                                        "--rebuild them from the outcomes")
    ru.add_argument("--rebuild", action="store_true", help="count every closed day again from the outcomes")
    ru.add_argument("--installation", help="one installation (default: every installation not uninstalled)")

    un = sub.add_parser("uninstall", help="stop Baton for an installation and delete its data (prints what it deleted)")
    un.add_argument("--installation", required=True, help="the installation id")
    er = sub.add_parser("erase", help="erase one customer's text and identity from an installation (GDPR Art. 17)")
    er.add_argument("--installation", required=True, help="the installation id")
    who = er.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the customer's email address")
    who.add_argument("--customer-id", help="the customer's id in the helpdesk")
    sub.add_parser("rotate-keys", help="re-encrypt every stored secret with the first key of BATON_SECRET_KEY")
    sub.add_parser("installations", help="list the installations in the database (DATABASE_URL): helpdesk, account, "
                                         "status, rules version, installed when")

    ins = sub.add_parser("install", help="install Baton into a helpdesk account (creates its webhook)")
    helpdesks = ins.add_subparsers(dest="provider", required=True, metavar="HELPDESK")
    for key, d in connectors.descriptors().items():
        one = helpdesks.add_parser(key, help=f"install into {d.name}", epilog=f"After installing: {d.next_step}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
        one.add_argument("--base-url", required=True, help=f"the {d.name} account's address, e.g. {d.example_url}")
        for field in {f.name: f for fields in (*d.credentials, d.optional) for f in fields}.values():
            one.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, help=field.help)
        one.add_argument("--public-url", required=True,
                         help="where the helpdesk reaches Baton, e.g. https://baton.example.com")
        one.add_argument("--mode", choices=d.modes, default=d.modes[0], help=f"default {d.modes[0]}")
        one.add_argument("--settings", default="{}",
                         help='JSON object, e.g. {"bot_user_ids": ["123"]} (the bot users whose messages are the bot\'s)')
        one.add_argument("--rules", help="JSON rules file")

    args = parser.parse_args(argv)
    try:
        return _run(args)
    except Unusable as e:  # the database or the key the command was pointed at: one sentence, nothing created
        print(f"error: {e}", file=sys.stderr)
        return 1


class Unusable(Exception):
    """The command cannot use the database it was pointed at (none there, no Baton tables, a key that
    does not decrypt it): the message says so in a sentence and what to do."""


def _run(args: argparse.Namespace) -> int:
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "demo":
        from integration.tools.demo import run

        return run(serve=args.serve, home=args.home)
    if args.command == "secret-key":
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode())
        return 0
    if args.command == "migrate":
        _store(existing=False).migrate()
        return 0
    if args.command == "installations":
        return _installations()
    if args.command == "install":
        return _install(args)
    if args.command == "replay":
        return _replay(args.installation)
    if args.command == "backtest":
        return _backtest(args)
    if args.command in ("report", "knowledge"):
        return _analytics(args)
    if args.command in ("uninstall", "erase", "rotate-keys"):
        return _lifecycle(args)
    if args.command == "rollups":
        return _rollups(args)
    return 2


def _rollups(args: argparse.Namespace) -> int:
    """``rollups``: the day each installation's rollups end; ``--rebuild``: count them all again."""
    from integration.service.reports import topic_labels
    from integration.service.store import utcnow

    store = _store()
    if args.installation is not None and store.installations.get(args.installation) is None:
        print(f"error: no installation {args.installation!r} (python -m integration installations lists them)",
              file=sys.stderr)
        return 2
    ids = [args.installation] if args.installation else store.lifecycle.retained_installations()
    today = utcnow().date()
    for inst_id in ids:
        if args.rebuild:
            rows = store.outcomes.rebuild_rollups(inst_id, today, topic_labels(store.installations.get(inst_id)))
            print(f"{inst_id}: {rows} rollup rows, every day before {today:%Y-%m-%d} (UTC) counted again")
            continue
        through, rows = store.outcomes.rollups_end(inst_id)
        print(f"{inst_id}: " + (f"{rows} rollup rows, the days before {through:%Y-%m-%d} (UTC)" if through
                                 else "no rollups yet (the next report counts the closed days)"))
    if not ids:
        print("No installation yet.")
    return 0


def _lifecycle(args: argparse.Namespace) -> int:
    """``uninstall``, ``erase`` and ``rotate-keys`` (README "Data lifecycle"): each prints what it changed."""
    store = _store()
    if args.command == "rotate-keys":
        print(f"rotated the secrets of {store.installations.rotate_secrets()} installation(s) to the first key of BATON_SECRET_KEY")
        return 0
    known = store.installations.get(args.installation) is not None
    if not known:
        print(f"error: no installation {args.installation!r}", file=sys.stderr)
        return 2
    if args.command == "uninstall":
        counts = store.lifecycle.uninstall(args.installation, "command line")
        print(f"uninstalled {args.installation}; deleted rows per table:")
    else:
        try:
            counts = store.lifecycle.erase_customer(args.installation, email=args.email, customer_id=args.customer_id)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"erased the customer from {args.installation}: {counts.pop('tickets')} conversation(s); "
              "rows changed per table:")
    for table, n in sorted(counts.items()):
        print(f"  {table}: {n}")
    return 0


def _analytics(args: argparse.Namespace) -> int:
    """``report``: every table of the analytics page; ``knowledge``: the knowledge export."""
    from integration.core import analytics
    from integration.service.store import utcnow
    from integration.service.reports import handoff_report, topic_labels

    try:
        span = None if args.since == "all" else analytics.period(args.since)
    except ValueError as e:
        print(f"error: --since: {e}", file=sys.stderr)
        return 2
    store = _store()
    inst = store.installations.get(args.installation)
    if inst is None:
        print(f"error: no installation {args.installation!r} (python -m integration installations lists them)",
              file=sys.stderr)
        return 2
    now = utcnow()
    since = now - span if span else None
    rep = handoff_report(store, args.installation, now, since)
    topics = topic_labels(inst)
    if args.command == "knowledge":
        if args.format == "csv":
            sys.stdout.write(analytics.to_csv(analytics.tables(rep, topics)["knowledge"]))
        else:
            print(json.dumps({"installation": args.installation, **analytics.knowledge_json(rep, topics)},
                             ensure_ascii=False, indent=1))
        return 0
    print(f"handoff metrics of {args.installation} ({_helpdesk(inst.provider)} {inst.base_url}): "
          f"{rep.conversations} conversations first seen "
          f"{'since ' + since.strftime('%Y-%m-%d %H:%M UTC') if since else 'ever'} "
          f"(ISO weeks in UTC, wall-clock minutes)")
    print(f"{rep.bot_involved} with a bot: {rep.escalated} handed over, {rep.kept} kept with the bot; "
          f"{rep.human_only} human only")
    words = analytics.ratings(inst.provider)
    print(f"CSAT counts those who {words.satisfied} among those who rated; no figure under {analytics.MIN_RATINGS} "
          "ratings")
    for csat in rep.csat:
        print(f"CSAT {csat.group}: {csat.summary}")
    hits = rep.suggestions[0]
    print("suggestion hit rate: " + (f"{hits.rate:.0%} ({hits.hits} of {hits.judged} handoffs whose suggested and "
                                     "final resolution types are known)" if hits.rate is not None
                                     else "no suggested resolution judged in this period"))
    for table in analytics.tables(rep, topics).values():
        print()
        print(analytics.to_text(table))
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from integration.core.rules import RulesError
    from integration.service.backtest import backtest, print_report

    store = _store()
    inst = store.installations.get(args.installation)
    if inst is None:
        print(f"error: no installation {args.installation!r} (python -m integration installations lists them)",
              file=sys.stderr)
        return 2
    try:
        draft = _json_object(open(args.rules, encoding="utf-8").read(), f"--rules {args.rules}")
        print_report(backtest(store, inst, draft, args.count))
    except (OSError, ValueError, RulesError) as e:  # RulesError is a ValueError: every problem, by path
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _development() -> bool:
    """BATON_DEVELOPMENT=1: the install command accepts local helpdesks (the sandboxes)."""
    from integration.service.settings import Settings

    return Settings.from_env().development


def _store(existing: bool = True):  # type: ignore[no-untyped-def]
    """The store DATABASE_URL and BATON_SECRET_KEY name. ``existing``: it must already hold Baton's
    tables, written with this key; otherwise Unusable says which in a sentence, and nothing is
    created (no empty SQLite file or folder left behind)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from integration.service.settings import Settings
    from integration.service.store import SecretsUnreadable, Store, Vault

    try:
        settings = Settings.from_env()
    except ValueError as e:  # a setting that is not a number
        raise Unusable(f"{e}.") from None
    url = settings.database_url
    try:
        where = make_url(url).render_as_string(hide_password=True)
    except (ValueError, SQLAlchemyError) as e:
        raise Unusable(f"DATABASE_URL is not a database address ({e}).") from None
    point = ("set DATABASE_URL and BATON_SECRET_KEY to the ones Baton runs with (`./run demo --serve` prints the "
             "demo's)")
    if not settings.secret_key.strip():
        raise Unusable(f"BATON_SECRET_KEY is not set: {point}.")
    try:
        vault = Vault(settings.secret_key)
    except ValueError:  # not a Fernet key
        raise Unusable(f"BATON_SECRET_KEY is not a key Baton makes (`python -m integration secret-key` makes one): "
                       f"{point}.") from None
    no_tables = (f"the database at {where} has no Baton tables: {point}, or create them with "
                 "`python -m integration migrate`.")
    if existing and url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///")).absolute()
        if not path.is_file():
            raise Unusable(f"there is no Baton database at {path}: {point}, or create one with "
                           "`python -m integration migrate`.")
        if not _sqlite_has_tables(path):  # read only: a stray empty file stays as it was
            raise Unusable(no_tables)
    try:
        store = Store(url, vault)
        if existing:
            if not inspect(store.engine).has_table("installations"):
                raise Unusable(no_tables)
            store.installations.check_secrets()
    except SecretsUnreadable:
        raise Unusable(f"BATON_SECRET_KEY is not the key the database at {where} was written with, so its "
                       f"installations cannot be read: {point}.") from None
    except SQLAlchemyError as e:
        raise Unusable(f"cannot use the database at {where}: {_first_line(e)}.") from None
    return store


def _sqlite_has_tables(path: Path) -> bool:
    import sqlite3

    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'installations'"
                                ).fetchone() is not None
    except sqlite3.Error as e:
        raise Unusable(f"cannot read the database at {path}: {e}.") from None


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip().splitlines()
    return text[0].rstrip(".") if text else type(e).__name__


def _helpdesk(provider: str) -> str:
    try:
        return connectors.get(provider).descriptor.name
    except KeyError:
        return provider


STATUS = {"active": "active", "broken": "waiting for its admin", "uninstalled": "uninstalled"}


def _installations() -> int:
    """Every installation in the database, oldest first, in words (the ids are what other commands take)."""
    from sqlalchemy import select

    from integration.service.store import installations

    store = _store()
    cols = installations.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(cols.id, cols.provider, cols.base_url, cols.status, cols.status_reason,
                                   cols.rules_version, cols.created_at).order_by(cols.created_at, cols.id)).all()
    if not rows:
        print("No installation yet: `python -m integration install …` adds one (see each helpdesk's README).")
        return 0
    print(f"{len(rows)} installation{'s' if len(rows) != 1 else ''}:")
    table = [("helpdesk", "account", "status", "rules", "installed", "id")]
    for r in rows:
        status = STATUS.get(r.status, r.status) + (f" ({' '.join(r.status_reason.split())[:80]})"
                                                   if r.status != "active" and r.status_reason else "")
        installed = r.created_at.strftime("%Y-%m-%d %H:%M UTC") if r.created_at else "–"
        rules = f"version {r.rules_version}" if r.rules_version else "as installed"
        table.append((_helpdesk(r.provider), r.base_url, status, rules, installed, r.id))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def _replay(installation: str) -> int:
    store = _store()
    if store.installations.get(installation) is None:
        print(f"error: no installation {installation!r} (python -m integration installations lists them)",
              file=sys.stderr)
        return 2
    n_events, n_writes = store.events.replay(installation)
    print(f"queued again: {n_events} dead events and {n_writes} dead write-backs of {installation} "
          "(the worker's drain picks them up within its interval)")
    return 0


def _install(args: argparse.Namespace) -> int:
    from integration.core.contract import ApiError
    from integration.service.installs import install

    descriptor = connectors.get(args.provider).descriptor
    given = [{f.name: getattr(args, f.name) for f in fields} for fields in descriptor.credentials]
    creds = next((c for c in given if all(c.values())), None)
    if creds is None:
        wanted = " or ".join("(" + ", ".join("--" + f.name.replace("_", "-") for f in fields) + ")"
                             for fields in descriptor.credentials)
        print(f"error: missing credentials for {args.provider}: give {wanted}", file=sys.stderr)
        return 2
    more = {f: getattr(args, f.name) for f in descriptor.optional if getattr(args, f.name)}
    creds = {**creds, **{f.name: value for f, value in more.items() if f.secret}}
    try:
        settings = {**_json_object(args.settings, "--settings"), **{f.name: v for f, v in more.items() if not f.secret}}
        rules = _json_object(open(args.rules, encoding="utf-8").read(), f"--rules {args.rules}") if args.rules else {}
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from integration.service import egress

    egress.check_connections(_development())  # the address each call reaches, as in the web and worker (S12)
    try:
        store = _store(existing=False)
        store.migrate()
        inst = install(store, args.provider, args.base_url, creds, args.public_url, settings, rules, args.mode,
                       development=_development())
    except (RulesError, ApiError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    endpoint = f"{args.public_url.rstrip('/')}/webhooks/{args.provider}/{inst.id}"
    print(f"installed {args.provider} as {inst.id}; Baton's endpoint: {endpoint}")
    print(f"next: {descriptor.next_step}")
    if args.provider == "freshdesk":  # the admin pastes it into the automation rule (it is stored encrypted)
        print(f"X-Baton-Secret: {inst.webhook_secret}")
    if inst.settings.get("handoff_webhook_url"):
        from integration.service.pipeline import handoff_webhook_key

        print(f"handoff webhook → {inst.settings['handoff_webhook_url']}, signing key: {handoff_webhook_key(inst)}")
    return 0


def _json_object(text: str, option: str) -> dict:  # type: ignore[type-arg]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{option} is not JSON: {e.msg} at column {e.colno}") from e
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object")
    return value


def _evaluate(args: argparse.Namespace) -> int:
    from integration.tools.evaluate import iter_file, run
    from integration.core.rules import DEFAULT_RULES

    try:
        rules = load_rules_file(args.rules) if args.rules else DEFAULT_RULES
    except (RulesError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        lines = iter_file(args.input)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as out:
                bad = run(lines, out, sys.stderr, rules)
        else:
            bad = run(lines, sys.stdout, sys.stderr, rules)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if bad else 0
