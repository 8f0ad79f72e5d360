"""Calibrate the knowledge base's weight and threshold on a validation set; report a test set.

    python -m core.engines.kb.calibrate [--kb examples/support_faq.yaml] \\
        [--validation examples/support_faq.validation.yaml] [--test tests/core/engines/kb/eval_set.yaml] \\
        [--embedders e5 minilm none] [--out examples/support_faq.calibration.json]

Deterministic: the same files give the same numbers. Writes ``{embedder: {weight, threshold, ...}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.engines.kb.embedders import load_embedder
from core.engines.kb.evaluate import Report, calibrate, read_set, report, score_set
from core.engines.kb.index import KnowledgeIndex
from core.engines.kb.source import calibration_path, load_items


def _line(name: str, r: Report) -> str:
    return (
        f"{name:<8} weight {r.weight:.2f} threshold {r.threshold:.3f}: in-scope {r.in_scope_accuracy:.1%}, "
        f"out-of-scope rejected {r.out_of_scope_rejection:.1%}, overall {r.accuracy:.1%}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, default=Path("examples/support_faq.yaml"))
    parser.add_argument("--validation", type=Path, default=Path("examples/support_faq.validation.yaml"))
    parser.add_argument("--test", type=Path, default=Path("tests/core/engines/kb/eval_set.yaml"))
    parser.add_argument("--embedders", nargs="+", default=["e5", "minilm", "none"], choices=["e5", "minilm", "none"])
    parser.add_argument("--out", type=Path, default=None, help="default: next to --kb, *.calibration.json")
    parser.add_argument("--cache-dir", type=Path, default=Path("data/cache/kb"))
    parser.add_argument("--misses", action="store_true", help="list the test questions answered wrongly")
    args = parser.parse_args(argv)
    items, _ = load_items(args.kb, [])
    validation = read_set(args.validation)
    test = read_set(args.test) if args.test and args.test.exists() else None
    out = args.out or calibration_path(args.kb)
    results: dict[str, dict[str, float]] = {}
    for name in args.embedders:
        index = KnowledgeIndex(items, load_embedder(name))
        index.build(args.cache_dir)
        chosen = calibrate(index, score_set(index, validation))
        print(_line(name, chosen) + "  (validation)")
        entry = {"weight": chosen.weight, "threshold": chosen.threshold, "validation_balanced_accuracy": round(chosen.balanced, 4)}
        if test is not None:
            tested = report(index, score_set(index, test), chosen.weight, chosen.threshold)
            print(_line(name, tested) + "  (test)")
            entry |= {
                "test_in_scope_accuracy": round(tested.in_scope_accuracy, 4),
                "test_out_of_scope_rejection": round(tested.out_of_scope_rejection, 4),
            }
            if args.misses:
                for miss in tested.misses:
                    print("   miss:", miss)
        results[name] = entry
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
