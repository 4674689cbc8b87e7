"""Floor of ``aioports allocate --json``: lock, read the registry, take the first free port of
$AIOPORTS_RANGE, write the registry back crash-safely, print the document.

Run: AIOPORTS_REGISTRY=... AIOPORTS_RANGE=4000-4999 python benchmarks/floor_allocate.py
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

import orjson
from _floor import bindable, emit, locked, read, registry_path, write


def main() -> None:
    path = registry_path()
    start, end = map(int, os.environ["AIOPORTS_RANGE"].split("-"))
    lock = locked(path)
    try:
        data = read(path)
        document = orjson.loads(data) if data else {"version": 1, "leases": {}}
        leases = document["leases"]
        port = next(p for p in range(start, end + 1) if str(p) not in leases and bindable(p))
        leases[str(port)] = {
            "port": port, "allocated_at": datetime.now(UTC).isoformat(), "metadata": {},
            "pid": os.getpid(), "hostname": socket.gethostname(), "owner_pid": None,
            "owner_create_time": None, "owner_token": None, "group": None, "role": None,
        }  # fmt: skip
        write(path, orjson.dumps(document))
    finally:
        os.close(lock)
    result = {"status": "allocated", "port": port, "metadata": {}, "owner_pid": None,
              "message": f"Allocated port {port}."}  # fmt: skip
    emit(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


if __name__ == "__main__":
    main()
