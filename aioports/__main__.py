"""``python -m aioports``: the same entry point as the ``aioports`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
