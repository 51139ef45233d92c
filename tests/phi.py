"""Search for PHI strings in output files (shared by the ingest and whole-pipeline tests)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path


def encodings_of(secret: str) -> set[bytes]:
    """Byte forms a non-ASCII `secret` may take in a file: UTF-8, GB18030, Latin-1, UTF-16,
    JSON-escaped."""
    forms = {json.dumps(secret)[1:-1].encode("ascii")}
    for codec in ("utf-8", "gb18030", "latin-1", "utf-16-le", "utf-16-be"):
        try:
            forms.add(secret.encode(codec))
        except UnicodeEncodeError:
            pass
    return forms


def token_in(secret: str, data: bytes) -> bool:
    """`secret` in `data` as a whole token ("MARY" is a name, "PRIMARY" is not), in any case;
    a non-ASCII secret (a Chinese name has no word boundaries) in any of `encodings_of` it.

    Literal search of the case variants first: a regex over megabytes of voxels is slow."""
    if not secret.isascii():
        variants = {secret, secret.upper(), secret.lower(), secret.title()}
        return any(form in data for v in variants for form in encodings_of(v))
    variants = {secret, secret.upper(), secret.lower(), secret.title()}
    if not any(v.encode("latin-1") in data for v in variants) and not re.search(
        re.escape(secret).encode("latin-1"), data[:65536], re.IGNORECASE
    ):
        return False
    pattern = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])".encode("latin-1")
    return re.search(pattern, data, re.IGNORECASE) is not None


def file_bytes(path: Path) -> bytes:
    """Contents of a file, gunzipped when it is gzip-compressed."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
