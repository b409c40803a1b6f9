"""`emotrack`: one command, one subcommand per job; exit codes as in :mod:`emotrack.shell`."""

from __future__ import annotations

import argparse
import importlib
import sys

from emotrack.shell import EXIT_USAGE, error, guarded, needs_train_extra, train_extra_message

# subcommand -> (module that owns it, one-line help). Each module has add_arguments(parser)
# and run(args) -> exit code; modules are imported lazily so `--help` stays fast.
SUBCOMMANDS = {
    "file": (
        "emotrack.tracker.commands:file",
        "track audio files (TUI, or headless with --no-tui)",
    ),
    "live": ("emotrack.tracker.commands:live", "track the microphone in real time"),
    "train": ("emotrack.offline.train_cli", "train a model (also installed as emotrack-train)"),
    "audit": ("emotrack.offline.audit", "check a DEAM or 4Q folder: labels, audio, artists"),
    "demo": ("emotrack.demo", "generate data, train a small model, track a song (no download)"),
    "bench": ("emotrack.bench", "measure front end, inference, latency and memory here"),
    "export": ("emotrack.offline.export", "export a trained run to ONNX"),
    "scan": ("emotrack.library.scan_command:scan", "track a music library into a database"),
    "playlist": ("emotrack.library.playlist_command:playlist", "mood playlists from a library"),
    "library": ("emotrack.library.browse_command:library", "browse a scanned library (TUI)"),
}


def _owner(spec: str):
    module_name, _, prefix = spec.partition(":")
    module = importlib.import_module(module_name)
    add = getattr(module, f"add_{prefix}_arguments" if prefix else "add_arguments")
    run = getattr(module, f"run_{prefix}" if prefix else "run")
    return add, run


def build_parser(argv: list[str], prog: str = "emotrack") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Real-time music emotion (valence/arousal) tracking.",
        epilog="`emotrack COMMAND --help` shows a command's options. Exit codes: 0 ok, 1 some "
        "work failed, 2 bad input or usage, 130 interrupted, 143 terminated.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, (spec, help_text) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # only the chosen command's module is imported
            add, run = _owner(spec)
            add(child)
            child.set_defaults(run=run, command_argv=argv[argv.index(name) + 1 :])
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
    except ModuleNotFoundError as exc:
        if not needs_train_extra(exc):
            raise
        wanted = next((a for a in argv if a in SUBCOMMANDS), "this command")
        error("emotrack", train_extra_message(f"emotrack {wanted}"))
        return EXIT_USAGE
    return guarded(f"emotrack {args.command}", lambda: args.run(args))


def train_main() -> int:
    """`emotrack-train`: `emotrack train` under its own name (torchrun starts it so)."""
    try:
        from emotrack.offline.train_cli import main as train
    except ModuleNotFoundError as exc:
        if not needs_train_extra(exc):
            raise
        error("emotrack-train", train_extra_message("emotrack-train"))
        return EXIT_USAGE
    return train()


if __name__ == "__main__":
    sys.exit(main())
