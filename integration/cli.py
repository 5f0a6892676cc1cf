"""Command line: ``python -m integration <command>``."""
from __future__ import annotations

import argparse
import sys

from integration.rules import RulesError, load_rules_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration", description="Baton, the AI-to-human handoff engine.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="decide for each conversation of a JSONL file")
    ev.add_argument("input", help="JSONL file of conversations, or - for standard input")
    ev.add_argument("--output", help="write decisions here instead of standard output")
    ev.add_argument("--rules", help="JSON rules file (defaults apply to what it leaves out)")
    args = parser.parse_args(argv)

    if args.command == "evaluate":
        return _evaluate(args)
    return 2


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
