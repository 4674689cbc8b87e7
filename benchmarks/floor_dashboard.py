"""Floor of ``aioports dashboard --json`` while every entry is free: lock and read the
registry, probe every entry, print one row per entry sorted by app, worktree and port
(no holder lookup: a free port has none).

Run: AIOPORTS_REGISTRY=... python benchmarks/floor_dashboard.py
"""

from __future__ import annotations

import os

import orjson
from _floor import bindable, emit, locked, read, registry_path


def main() -> None:
    path = registry_path()
    lock = locked(path)
    try:
        data = read(path)
    finally:
        os.close(lock)
    leases = orjson.loads(data)["leases"] if data else {}
    rows = []
    for entry in leases.values():
        meta = entry["metadata"]
        state = "free" if bindable(entry["port"]) else "active"
        rows.append({"app": meta.get("app"), "worktree": meta.get("worktree"),
                     "name": entry["role"] or meta.get("service"), "port": entry["port"],
                     "state": state, "process": None, "allocation": entry})  # fmt: skip
    rows.sort(key=lambda r: (r["app"] is not None, r["app"] or "", r["worktree"] is not None,
                             r["worktree"] or "", r["port"]))  # fmt: skip
    emit(orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


if __name__ == "__main__":
    main()
