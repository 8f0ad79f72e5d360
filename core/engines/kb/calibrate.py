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
from core.engines.kb.evaluate import Report, calibrate, calibrate_fast, read_set, report, score_set
from core.engines.kb.index import KnowledgeIndex
from core.engines.kb.source import calibration_path, load_items


def _line(name: str, r: Report) -> str:
    fast = f", fast path from {r.fast_lexical:.3f} ({r.fast_share:.0%} of questions)" if r.fast_lexical is not None else ""
    return (
        f"{name:<8} weight {r.weight:.2f} threshold {r.threshold:.3f}: in-scope {r.in_scope_accuracy:.1%}, "
        f"out-of-scope rejected {r.out_of_scope_rejection:.1%}, overall {r.accuracy:.1%}{fast}"
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
    results: dict[str, dict[str, float | None]] = {}
    for name in args.embedders:
        index = KnowledgeIndex(items, load_embedder(name))
        index.build(args.cache_dir)
        scored = score_set(index, validation)
        chosen = calibrate(index, scored)
        fast = calibrate_fast(index, scored)
        print(_line(name, chosen) + "  (validation, without the fast path)")
        entry: dict[str, float | None] = {
            "weight": chosen.weight,
            "threshold": chosen.threshold,
            "fast_lexical": fast,
            "validation_balanced_accuracy": round(chosen.balanced, 4),
        }
        if fast is not None:
            with_fast = report(index, scored, chosen.weight, chosen.threshold, fast)
            print(_line(name, with_fast) + "  (validation)")
            entry["validation_balanced_accuracy_fast"] = round(with_fast.balanced, 4)
        if test is not None:
            scored_test = score_set(index, test)
            tested = report(index, scored_test, chosen.weight, chosen.threshold, fast)
            if fast is not None:
                print(_line(name, report(index, scored_test, chosen.weight, chosen.threshold)) + "  (test, without the fast path)")
            print(_line(name, tested) + "  (test)")
            entry |= {
                "test_in_scope_accuracy": round(tested.in_scope_accuracy, 4),
                "test_out_of_scope_rejection": round(tested.out_of_scope_rejection, 4),
                "test_fast_share": round(tested.fast_share, 4),
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
