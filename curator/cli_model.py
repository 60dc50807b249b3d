"""``curator model train|status``: the learned ranking from the command line.

``train`` trains now, in this process (it imports scikit-learn), stores the model and prints
its cross-validated quality; ``status`` says how many decisions there are, when the stored
model was trained and how good it was, without importing scikit-learn.  A running ``serve``
picks up a model trained here at its next look at the store.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curator.core import Curator


def cmd_model(cur: Curator, args: argparse.Namespace) -> int:
    if args.model_command == "train":
        return _train(cur, args)
    return _status(cur, args)


def _train(cur: Curator, args: argparse.Namespace) -> int:
    from curator import ranking

    trained = ranking.train_now(cur)
    q = trained.quality
    assert q is not None
    body: dict[str, Any] = {
        "trained": True,
        "examples": trained.model["examples"],
        "approved": trained.model["approved"],
        "rejected": trained.model["rejected"],
        "last_trained": trained.model["trained_at"],
        "roc_auc": q.roc_auc,
        "average_precision": q.average_precision,
        "folds": q.folds,
        "features": sum(len(b["terms"]) for b in trained.model["blocks"].values()),
        "seconds": round(trained.seconds, 2),
    }
    if args.json:
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(
        f"trained on {body['examples']} decisions ({body['approved']} approved, "
        f"{body['rejected']} rejected) in {body['seconds']:.1f} s"
    )
    print(
        f"cross-validated ({q.folds} folds): ROC AUC {q.roc_auc:.3f}, "
        f"average precision {q.average_precision:.3f}"
    )
    return 0


def _status(cur: Curator, args: argparse.Namespace) -> int:
    from curator import ranking

    s = ranking.status(cur)
    if args.json:
        json.dump(asdict(s), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(
        f"decisions: {s.examples} ({s.approved} approved, {s.rejected} rejected); "
        f"training needs {s.min_examples}, at least {s.min_each} of each"
        + ("" if s.enough else " — not enough yet")
    )
    if s.last_trained is None:
        print("model: none trained yet (`curator model train`, or `serve` after enough decisions)")
    else:
        fresh = "up to date" if s.up_to_date else "decisions changed since"
        print(f"model: trained {s.last_trained} on {s.trained_on} decisions ({fresh})")
        if s.roc_auc is not None and s.average_precision is not None:
            print(
                f"cross-validated ({s.folds} folds): ROC AUC {s.roc_auc:.3f}, "
                f"average precision {s.average_precision:.3f}"
            )
    if s.error:
        print(f"error: {s.error}", file=sys.stderr)
    auto = "off" if s.auto_reject_below is None else f"below {s.auto_reject_below:g}"
    print(f"queue order: {s.blend:g} learned + {1 - s.blend:g} rule score; auto-reject {auto}")
    return 1 if s.error else 0


def register(sub: Any) -> None:
    """Add ``curator model`` to the CLI's subcommands."""
    s = sub.add_parser("model", help="train the learned ranking and show its quality")
    ms = s.add_subparsers(dest="model_command", metavar="ACTION")
    ms.required = True
    t = ms.add_parser(
        "train", help="train now on every decision; print the cross-validated quality"
    )
    t.add_argument("--json", action="store_true")
    t = ms.add_parser("status", help="decisions, last training, cross-validated quality")
    t.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_model)
