"""Text safe to encode: unpaired UTF-16 surrogates become U+FFFD.

A JSON frame may carry ``"\\ud800"``, a terminal may hand over undecodable bytes as
lone surrogates (``surrogateescape``): such a ``str`` cannot be encoded as UTF-8,
so a WebSocket write, a SQLite insert or a log line with it fails. Every adapter
passes the text it receives through :func:`clean_text` at its edge.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(text: str | None) -> str:
    """``text`` with each unpaired surrogate replaced by U+FFFD (a pair written as two code points is joined).

    None and "" give "". Text without surrogates is returned as is (one regex scan).
    """
    if not text:
        return ""
    if _SURROGATE.search(text) is None:
        return text
    # UTF-16 with surrogatepass joins a high+low pair into its character; what is left unpaired
    # cannot be decoded and becomes U+FFFD (one per lone surrogate).
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
