"""Argument parsing for ``aioports``; every command is one call into the public API."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .._version import __version__

__all__ = ("main",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aioports",
        description="Hand out, track, probe and free TCP ports on this host.",
    )
    parser.add_argument("--version", action="version", version=f"aioports {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting."""
    parser = build_parser()
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    parser.print_help()
    return 0
