"""Floor of ``aioports probe PORT --json``: two wildcard binds, one document.

Run: python benchmarks/floor_probe.py 3000
"""

from __future__ import annotations

import sys

import orjson
from _floor import bindable, emit


def main() -> None:
    port = int(sys.argv[1])
    in_use = not bindable(port)
    status = "in_use" if in_use else "free"
    document = {"status": status, "port": port, "in_use": in_use,
                "message": f"Port {port} is {'in use' if in_use else 'free'}."}  # fmt: skip
    emit(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


if __name__ == "__main__":
    main()
