"""`emotrack`: one command, one subcommand per job. Exit codes: 0 ok, 1 some work failed,
2 bad input or usage, 130 interrupted."""

from __future__ import annotations

import argparse
import importlib
import sys

from emotrack.models.errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# subcommand -> (module that owns it, one-line help). Each module has add_arguments(parser)
# and run(args) -> exit code; modules are imported lazily so `--help` stays fast.
# what the `train` extra installs: a command that needs one of these says so instead of failing
TRAIN_MODULES = frozenset(
    {"torch", "torchaudio", "torchvision", "onnx", "matplotlib", "librosa", "lameenc", "tqdm",
     "transformers", "timm", "mambavision", "kagglehub"}
)  # fmt: skip
TRAIN_EXTRA = "pip install 'emotrack[train]'"

SUBCOMMANDS = {
    "file": (
        "emotrack.tracker.commands:file",
        "track audio files (TUI, or headless with --no-tui)",
    ),
    "live": ("emotrack.tracker.commands:live", "track the microphone in real time"),
    "audit": ("emotrack.offline.audit", "check a DEAM or 4Q folder: labels, audio, artists"),
    "demo": ("emotrack.demo", "generate data, train a small model, track a song (no download)"),
    "bench": ("emotrack.bench", "measure front end, inference, latency and memory here"),
    "export": ("emotrack.offline.export", "export a trained run to ONNX"),
    "scan": ("emotrack.library.scan_command:scan", "track a music library into a database"),
    "playlist": ("emotrack.library.playlist_command:playlist", "mood playlists from a library"),
}


def _owner(spec: str):
    module_name, _, prefix = spec.partition(":")
    module = importlib.import_module(module_name)
    add = getattr(module, f"add_{prefix}_arguments" if prefix else "add_arguments")
    run = getattr(module, f"run_{prefix}" if prefix else "run")
    return add, run


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emotrack",
        description="Real-time music emotion (valence/arousal) tracking.",
        epilog="`emotrack COMMAND --help` shows a command's options. Train with `emotrack-train`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, (spec, help_text) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # only the chosen command's module is imported
            add, run = _owner(spec)
            add(child)
            child.set_defaults(run=run)
    return parser


def needs_train_extra(exc: ModuleNotFoundError) -> bool:
    """Whether an import failed because the `train` extra is not installed."""
    return (exc.name or "").partition(".")[0] in TRAIN_MODULES


def train_extra_message(command: str) -> str:
    return (
        f"{command} needs the train extra (PyTorch and friends), which this install lacks; "
        f"install it with {TRAIN_EXTRA}"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
    except ModuleNotFoundError as exc:
        if not needs_train_extra(exc):
            raise
        wanted = next((a for a in argv if a in SUBCOMMANDS), "this command")
        print(f"emotrack: error: {train_extra_message(f'emotrack {wanted}')}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(args) or EXIT_OK)
    except UserError as exc:
        print(f"emotrack {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        if not needs_train_extra(exc):
            raise
        message = train_extra_message(f"emotrack {args.command}")
        print(f"emotrack {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"emotrack {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def train_main() -> int:
    """`emotrack-train`: the training command line, or the message naming the extra."""
    try:
        from emotrack.offline.train_cli import main as train
    except ModuleNotFoundError as exc:
        if not needs_train_extra(exc):
            raise
        print(f"emotrack-train: error: {train_extra_message('emotrack-train')}", file=sys.stderr)
        return EXIT_USAGE
    return train()


if __name__ == "__main__":
    sys.exit(main())
