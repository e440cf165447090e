"""Feed URLs as they may be shown: without credentials.

A feed URL can carry a user and password (``http://reader:pw@host/feed``) or a key in its query
(``?key=…``, ``?token=…``). What is fetched keeps them; what is logged or shown to anyone does
not.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_NAME = re.compile(
    r"(key|token|secret|pass(word)?|pwd|auth|sig(nature)?|credential|session|code)", re.I
)
HIDDEN = "***"


def display_url(url: str) -> str:
    """``url`` without user info and with secret-looking query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return HIDDEN  # not a URL we can take apart: show nothing rather than a secret
    netloc = f"[{host}]{port}" if ":" in host else f"{host}{port}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, HIDDEN if _SECRET_NAME.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
