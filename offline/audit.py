"""`emotrack audit`: check a dataset folder before training on it.

A DEAM copy (``offline.audit_deam``: labels, audio, static/dynamic agreement; its tables in
``offline.audit_deam_report``) or a 4Q copy (``offline.audit_4q``: quadrants, clips, artists),
told apart by the files in it. The table goes to stdout, the findings also as JSON with
``--json``. Exit code 0 when nothing is wrong, 1 when the audit found problems, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emotrack.models.atomic import write_atomic
from emotrack.models.errors import UserError
from emotrack.offline.audit_4q import FourQFindings, audit_fourq, render_fourq
from emotrack.offline.audit_deam import Findings, audit
from emotrack.offline.audit_deam_report import render
from emotrack.offline.deam import add_data_arguments, find_deam_root, load_deam
from emotrack.offline.fourq import is_fourq_folder, load_fourq


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Check a dataset folder before training on it: an unpacked DEAM copy (labels, audio, "
        "static/dynamic agreement) or 4Q copy (quadrants, clips, artists), told apart by the "
        "files in it. Exit code 0 when clean, 1 when problems were found, 2 for bad input."
    )
    parser.add_argument(
        "dir",
        nargs="?",
        type=Path,
        metavar="DIR",
        help="an unpacked DEAM or 4Q copy (or --download for DEAM)",
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the findings as JSON to FILE ('-' for stdout; the table then goes "
        "to stderr)",
    )


def run(args: argparse.Namespace) -> int:
    if args.dir is not None and args.data_dir is not None and args.dir != args.data_dir:
        raise UserError("give the DEAM folder once: as DIR or as --data-dir, not both")
    if args.json not in (None, "-") and Path(args.json).expanduser().is_dir():
        raise UserError(f"--json {args.json}: is a folder; give a file name")
    root = find_deam_root(args.dir or args.data_dir, args.download)
    if is_fourq_folder(root):
        findings = audit_fourq(load_fourq(root, progress=True))
        table = render_fourq(findings)
    else:
        findings = audit(load_deam(root, progress=True))
        table = render(findings)
    if args.json == "-":
        sys.stderr.write(table)
        sys.stdout.write(json.dumps(findings.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(table)
        if args.json:
            _write_json(findings, Path(args.json).expanduser())
    return 0 if findings.ok else 1


def _write_json(findings: Findings | FourQFindings, path: Path) -> None:
    """Atomically, so an interrupted audit never leaves half a file."""
    try:
        write_atomic(path, json.dumps(findings.to_dict(), indent=2) + "\n")
    except OSError as exc:
        raise UserError(
            f"--json {path}: cannot write ({exc.strerror}); choose another file"
        ) from None
