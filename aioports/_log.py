"""Debug logging to the ``aioports`` logger, without importing :mod:`logging` for it.

A command-line call must not pay for a module it never uses. Until something else imports
``logging``, no handler can have been configured, so nothing would be shown anyway; once it
is imported (an app that configures logging), every message goes to ``aioports`` as usual.
"""

from __future__ import annotations

import sys

__all__ = ("debug",)


def debug(message: str, *args: object) -> None:
    """``logging.getLogger("aioports").debug(message, *args)``, when logging is in use."""
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger("aioports").debug(message, *args)
