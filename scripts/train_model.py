"""Train the engine's learned signal and report its figures by 5-fold cross-validation and by
leave-one-source-out (train on the other datasets, test on one).

    python scripts/train_model.py [DEV_JSONL] [--folds 5] [--write] [--errors SOURCE [--loso]]

Reads the labelled dev set (default ../shared/data/escalation_dev.jsonl), measures the whole
engine (hand-written signals + a model trained on the other folds) on each held-out fold, prints
precision/recall/F1 pooled, per source and per gold reason, and with --write fits on all rows and
writes integration/core/engine/model.json. Figures on rows the model trained on are never printed.

Data sources and licences of the dev set (attribution required): see MODEL.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import sklearn
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integration.core.engine import classifier, evaluate  # noqa: E402
from integration.tools.evaluate import Scoreboard, conversation_from_dict  # noqa: E402
from integration.core.rules import DEFAULT_RULES  # noqa: E402

C = 1.0  # L2 strength, chosen once by CV on this file and kept fixed
SOURCES = [
    "Bitext customer-support sample (CDLA-Sharing-1.0), github.com/bitext/customer-support-llm-chatbot-training-dataset @ 8b6ca3d",
    "HINT3, Arora et al. 2020 (ODbL 1.0 + DbCL 1.0), github.com/hellohaptik/HINT3 @ 99965c8",
    "RSiCS, Beaver, Freeman, Mueen 2017, arXiv:1708.05449 (ODbL), via github.com/Johumel/Greet_pred @ 00612a1",
    "USS, Sun et al. SIGIR 2021, github.com/sunnweiwei/user-satisfaction-simulation @ 8ba06bd; text from MultiWOZ 2.1 (MIT) and SGD (CC BY-SA 4.0)",
]


def fit(feats: list[dict[str, float]], labels: np.ndarray) -> classifier.LinearModel:
    vec = DictVectorizer()
    X = vec.fit_transform(feats)
    lr = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
    lr.fit(X, labels)
    weights = {name: round(float(w), 4) for name, w in zip(vec.get_feature_names_out(), lr.coef_[0]) if abs(w) >= 1e-3}
    return classifier.LinearModel(weights, round(float(lr.intercept_[0]), 4), {})


def family(source: str) -> str:
    """The dataset a source comes from: HINT3's two splits, and USS's two corpora, are one each."""
    return source.split("_")[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dev", nargs="?", default=str(ROOT.parent / "shared/data/escalation_dev.jsonl"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="fit on all rows and write model.json")
    ap.add_argument("--errors", metavar="SOURCE", help="print the cross-validated mistakes of one source")
    ap.add_argument("--loso", action="store_true", help="with --errors: the leave-one-source-out mistakes")
    args = ap.parse_args()

    rows = [json.loads(line) for line in open(args.dev, encoding="utf-8") if line.strip()]
    convs = [conversation_from_dict(r) for r in rows]
    labels = np.array([r["label"] == "escalate" for r in rows], dtype=int)
    no_model = replace(DEFAULT_RULES, model=replace(DEFAULT_RULES.model, enabled=False))
    base = [evaluate(c, no_model) for c in convs]
    feats = [classifier.features(c, d.findings) for c, d in zip(convs, base)]

    board, rules_only = Scoreboard(), Scoreboard()
    strata = [f"{r['source']}:{r['label']}" for r in rows]
    for train, test in StratifiedKFold(args.folds, shuffle=True, random_state=0).split(rows, strata):
        model = fit([feats[i] for i in train], labels[train])
        for i in test:
            decision = evaluate(convs[i], DEFAULT_RULES, model)
            board.add(rows[i], decision.escalate)
            rules_only.add(rows[i], base[i].escalate)
            if args.errors == rows[i]["source"] and not args.loso and decision.escalate != bool(labels[i]):
                said = " | ".join(m["text"][:160] for m in rows[i]["messages"][-3:])
                print(f"{rows[i]['label']:<12} {[r.code for r in decision.reasons]} {said}")
    print(f"hand-written signals only ({len(rows)} rows):\n{rules_only.report()}\n")
    print(f"signals + learned model, {args.folds}-fold cross-validation:\n{board.report()}\n")

    # Leave one source out: train on the other datasets, test on the one left out. This is the
    # figure to choose designs by: random folds share a dataset's phrasing between train and test.
    loso = Scoreboard()
    families = [family(r["source"]) for r in rows]
    for held_out in sorted(set(families)):
        train = np.array([i for i, f in enumerate(families) if f != held_out])
        model = fit([feats[i] for i in train], labels[train])
        for i, f in enumerate(families):
            if f == held_out:
                decision = evaluate(convs[i], DEFAULT_RULES, model)
                loso.add(rows[i], decision.escalate)
                if args.errors == rows[i]["source"] and args.loso and decision.escalate != bool(labels[i]):
                    said = " | ".join(m["text"][:160] for m in rows[i]["messages"][-3:])
                    print(f"{rows[i]['label']:<12} {[r.code for r in decision.reasons]} {said}")
    print(f"signals + learned model, leave one source out ({', '.join(sorted(set(families)))}):\n{loso.report()}")
    explicit = loso.by_reason["explicit_request"]
    print(f"\nleave one source out, the issue's figures: real-user F1 {loso.real_users.f1:.3f}, explicit-request "
          f"recall {explicit.recall:.3f}, real-user false escalations {loso.real_users.false_escalation_rate:.1%}")

    if args.write:
        model = fit(feats, labels)
        meta = {
            "trained": date.today().isoformat(),
            "rows": len(rows),
            "C": C,
            "sklearn": sklearn.__version__,
            "sources": SOURCES,
            "cv_f1": {"pooled": round(board.pooled.f1, 3), "real_users": round(board.real_users.f1, 3)},
            "loso_f1": {"pooled": round(loso.pooled.f1, 3), "real_users": round(loso.real_users.f1, 3)},
        }
        out = {"meta": meta, "bias": model.bias, "weights": dict(sorted(model.weights.items()))}
        classifier.MODEL_PATH.write_text(json.dumps(out, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {classifier.MODEL_PATH.relative_to(ROOT)} ({len(model.weights)} weights)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
