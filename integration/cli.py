"""Command line: ``python -m integration <command>``."""
from __future__ import annotations

import argparse
import json
import sys

from integration.rules import RulesError, load_rules_file


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
    sub.add_parser("secret-key", help="print a new key for BATON_SECRET_KEY")

    ins = sub.add_parser("install", help="install Baton into a helpdesk account (creates its webhook)")
    ins.add_argument("provider", choices=["zendesk", "freshdesk", "intercom"])
    ins.add_argument("--base-url", required=True, help="e.g. https://acme.zendesk.com")
    ins.add_argument("--email", help="API user email (API-token auth)")
    ins.add_argument("--token", help="API token")
    ins.add_argument("--oauth-token", help="Zendesk: OAuth access token instead of email + token")
    ins.add_argument("--api-key", help="Freshdesk: the API key of Baton's agent")
    ins.add_argument("--access-token", help="Intercom: the app's access token")
    ins.add_argument("--client-secret", help="Intercom: the app's client secret (signs notifications)")
    ins.add_argument("--public-url", required=True, help="where the helpdesk reaches Baton, e.g. https://baton.example.com")
    ins.add_argument("--mode", default=None, help="zendesk: events (default) or trigger")
    ins.add_argument("--settings", default="{}", help='JSON, e.g. {"bot_user_ids": ["123"], "groups": {"default": "456"}}')
    ins.add_argument("--rules", help="JSON rules file")

    args = parser.parse_args(argv)
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "demo":
        from integration.demo import run

        return run(serve=args.serve, home=args.home)
    if args.command == "secret-key":
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode())
        return 0
    if args.command == "migrate":
        _store().migrate()
        return 0
    if args.command == "install":
        return _install(args)
    return 2


def _store():  # type: ignore[no-untyped-def]
    from integration.store import Store, Vault, default_url

    return Store(default_url(), Vault.from_env())


def _install(args: argparse.Namespace) -> int:
    from connectors.base import ApiError
    from integration.installs import install

    creds, mode = {
        "zendesk": ({"oauth_token": args.oauth_token} if args.oauth_token else {"email": args.email, "token": args.token},
                    args.mode or "events"),
        "freshdesk": ({"api_key": args.api_key}, "automation"),
        "intercom": ({"access_token": args.access_token, "client_secret": args.client_secret}, "webhooks"),
    }[args.provider]
    if not all(creds.values()):
        print(f"error: missing credentials for {args.provider}: {', '.join(k for k, v in creds.items() if not v)}",
              file=sys.stderr)
        return 2
    try:
        settings = json.loads(args.settings)
        rules = json.loads(open(args.rules, encoding="utf-8").read()) if args.rules else {}
        store = _store()
        store.migrate()
        inst = install(store, args.provider, args.base_url, creds, args.public_url, settings, rules, mode)
    except (json.JSONDecodeError, OSError, RulesError, ApiError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"installed {args.provider} as {inst.id}: webhook → {args.public_url.rstrip('/')}/webhooks/{args.provider}/{inst.id}")
    if args.provider == "freshdesk":  # the admin pastes it into the automation rule (it is stored encrypted)
        print(f"X-Baton-Secret: {inst.webhook_secret}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from integration.evaluate import iter_file, run
    from integration.rules import DEFAULT_RULES

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
