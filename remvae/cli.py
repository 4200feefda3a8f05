"""The ``remvae`` command."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from remvae.core.registry import ALL_REGISTRIES


def cmd_list(args: argparse.Namespace) -> int:
    for registry in ALL_REGISTRIES:
        entries = list(registry)
        print(f"{registry.kind}s ({registry.description}):")
        width = max((len(e.name) for e in entries), default=0)
        for entry in entries:
            print(f"  {entry.name:<{width}}  {entry.description}")
        if not entries:
            print("  (none registered)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="remvae", description="Aligned multimodal image-text VAEs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="print every registered component by kind").set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
