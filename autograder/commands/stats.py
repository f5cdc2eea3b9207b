"""``stats RESULTS --out stats.html``: class statistics from a folder of results.json files.

The page shows the score histogram, each case's pass rate (lowest first, flagged below
``--flag-below``) and its most frequent failure messages; the pass rates also go to a CSV
(``--csv``, default: the page's name with ``.csv``). RESULTS is searched at any depth, so
grade-all's output folder works as well as its ``results`` folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from autograder.stats import write_stats

    csv_path = args.csv or args.out.with_suffix(".csv")
    stats = write_stats(
        args.results, args.out, csv_path=csv_path, flag_below=args.flag_below, top=args.top
    )
    flagged = sum(case.pass_rate < args.flag_below for case in stats.cases)
    print(
        f"{len(stats.scores)} submissions, {len(stats.cases)} cases, {flagged} flagged "
        f"-> {args.out} (pass rates: {csv_path})"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from autograder.stats import FLAG_BELOW, TOP_MESSAGES

    parser = subparsers.add_parser(
        "stats", help="class statistics of graded results (html page and CSV)", description=__doc__
    )
    parser.add_argument("results", type=Path, metavar="RESULTS", help="folder of results.json")
    parser.add_argument("--out", type=Path, required=True, help="html page to write")
    parser.add_argument("--csv", type=Path, default=None, help="pass-rate CSV to write")
    parser.add_argument(
        "--flag-below",
        type=float,
        default=FLAG_BELOW,
        help=f"flag cases passed by fewer than this fraction of submissions (default {FLAG_BELOW})",
    )
    parser.add_argument(
        "--top",
        type=int,
        default=TOP_MESSAGES,
        help=f"failure messages shown per case (default {TOP_MESSAGES})",
    )
    parser.set_defaults(func=run)
    return parser
