"""What a file is, judged from its bytes alone (never from its name or a client's claim).

Signatures are read by `puremagic`. Office Open XML documents are ZIP archives, for which
signatures cannot tell a Word file from any other archive, so those are decided from the
archive's member names (read from the central directory; nothing is decompressed).
"""

from __future__ import annotations

import io
import zipfile

import puremagic

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP = "application/zip"
HEIC = "image/heic"
UNKNOWN = "application/octet-stream"

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def _office_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return UNKNOWN
    if "[Content_Types].xml" not in names:
        return ZIP
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return ZIP


def _is_heic(data: bytes) -> bool:
    """ISO-BMFF `ftyp` box whose major or compatible brands name HEIF/HEIC."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(data[:4], "big")
    brands = data[8:12], *(data[i : i + 4] for i in range(16, min(box_size, len(data), 64), 4))
    return any(brand in _HEIC_BRANDS for brand in brands)


def detect_mime(data: bytes) -> str:
    """The MIME type the content shows, or application/octet-stream when nothing matches."""
    if data.startswith(_ZIP_MAGIC):
        return _office_type(data)
    if _is_heic(data):
        return HEIC
    try:
        matches = puremagic.magic_string(data[:8192])
    except (puremagic.PureError, ValueError):
        return UNKNOWN
    for match in sorted(matches, key=lambda found: -found.confidence):
        if match.mime_type:
            return str(match.mime_type)
    return UNKNOWN
