"""``companion models list|download``: the speech models installed, and downloading one (the only network access)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from companion.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEM
from companion.speech import models as speech_models
from companion.speech.models import (BASE_URL_ENV, MODELS_ENV, ModelError, ModelInfo, installed_models, load_registry,
                                     megabytes, models_dir)


def _registry_or_error() -> dict[str, ModelInfo] | None:
    try:
        return load_registry()
    except ModelError as exc:
        print(exc, file=sys.stderr)
        return None


def cmd_models_list(args: argparse.Namespace) -> int:
    registry = _registry_or_error()
    if registry is None:
        return EXIT_PROBLEM
    directory = Path(args.dir) if args.dir else models_dir()
    installed = installed_models(directory)
    names = {model.name for model in installed if not model.fixture}
    try:
        packaged = speech_models.packaged_models()
    except ModelError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    if args.json:
        print(json.dumps({
            "models_dir": str(directory),
            "installed": [{"name": m.name, "path": str(m.path), "size": m.size,
                           "fixture": m.fixture, "note": m.note} for m in installed],
            "available": [{**{k: v for k, v in asdict(info).items() if k != "sha256_source"},
                           "installed": info.name in names, "verifiable": bool(info.sha256)}
                          for info in registry.values()],
            "packaged": [{"name": p.name, "path": str(p.path) if p.path else None, "size": p.size, "ok": p.ok,
                          "note": p.note} for p in packaged],
        }, indent=2))
        return EXIT_OK
    real = [m for m in installed if not m.fixture]
    print(f"Installed in {directory}:")
    if not real:
        print("  (none)")
    for model in real:
        print(f"  {model.name}  {megabytes(model.size)}  {model.path}")
    fixtures = [m for m in installed if m.fixture]
    if fixtures:
        print("\nTest fixtures (used by the test suite only):")
        for model in fixtures:
            print(f"  {model.name}  {megabytes(model.size)}  {model.path}  - {model.note}")
    print("\nDownloadable (companion models download NAME):")
    for info in registry.values():
        state = "installed" if info.name in names else "not installed"
        if not info.sha256:
            state += ", no checksum: cannot be installed"
        print(f"  {info.name}  {megabytes(info.size)}  {info.language}  {info.licence}  [{state}]")
        print(f"      {info.description}")
    if packaged:
        print("\nFrom Python packages (checked, never downloaded):")
    for status in packaged:
        info = status.model
        print(f"  {status.name}  {megabytes(status.size)}  {info.language}  {info.licence}  "
              f"[{'installed, files verified' if status.ok else status.note}]")
        print(f"      {info.description}")
        if status.path:
            print(f"      {status.path}")
    return EXIT_OK


def cmd_models_download(args: argparse.Namespace) -> int:
    registry = _registry_or_error()
    if registry is None:
        return EXIT_PROBLEM
    directory = Path(args.dir) if args.dir else models_dir()
    try:
        result = speech_models.download(args.name, directory, base_url=args.base_url, progress=sys.stderr, registry=registry)
    except ModelError as exc:
        print(f"Download failed: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        print("\nDownload cancelled; nothing was installed.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not result.downloaded:
        print(f"{args.name} is already installed at {result.path}; nothing to do.")
    else:
        print(f"Installed {args.name} at {result.path} (checksum verified, {megabytes(result.bytes)} "
              f"in {result.seconds:.1f} s).")
    return EXIT_OK


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Register ``companion models list|download`` on the main parser's subcommands."""
    parser = sub.add_parser("models", help="list or download speech-recognition models")
    parser.set_defaults(func=lambda _args: (parser.print_help(), EXIT_OK)[1])
    models_sub = parser.add_subparsers(dest="models_command", metavar="ACTION")

    p = models_sub.add_parser("list", help="installed models, and the ones that can be downloaded")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--dir", metavar="DIR", help=f"models folder (default: ${MODELS_ENV}, else the checkout's models/ folder, or models/ in your data folder for an installed wheel)")
    p.set_defaults(func=cmd_models_list)

    p = models_sub.add_parser("download", help="download, verify and install a model (needs the internet, once)")
    p.add_argument("name", metavar="NAME", help="a model name from: companion models list")
    p.add_argument("--dir", metavar="DIR", help=f"install into DIR (default: ${MODELS_ENV}, else the checkout's models/ folder, or models/ in your data folder for an installed wheel)")
    p.add_argument("--base-url", metavar="URL",
                   help=f"fetch NAME.zip from this mirror instead of the official address (or set ${BASE_URL_ENV}); "
                        "the checksum is still verified")
    p.set_defaults(func=cmd_models_download)
    return parser
