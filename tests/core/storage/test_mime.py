"""Content sniffing: types decided by bytes, Office documents by their archive members."""

from __future__ import annotations

import io
import zipfile

from core.storage.mime import DOCX, HEIC, UNKNOWN, XLSX, ZIP, detect_mime


def zip_of(*members: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member in members:
            archive.writestr(member, "<x/>")
    return buffer.getvalue()


def test_allowed_kinds_are_recognised() -> None:
    assert detect_mime(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") == "application/pdf"
    assert detect_mime(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20)) == "image/png"
    assert detect_mime(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)) == "image/jpeg"
    assert detect_mime(b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(20)) == "image/webp"
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(20)
    assert detect_mime(heic) == HEIC
    assert detect_mime(zip_of("[Content_Types].xml", "word/document.xml")) == DOCX
    assert detect_mime(zip_of("[Content_Types].xml", "xl/workbook.xml")) == XLSX


def test_lookalikes_are_not_allowed_kinds() -> None:
    assert detect_mime(zip_of("notes.txt")) == ZIP
    assert detect_mime(zip_of("[Content_Types].xml", "ppt/presentation.xml")) == ZIP
    assert detect_mime(b"MZ\x90\x00\x03" + bytes(60)) == (
        "application/vnd.microsoft.portable-executable"
    )
    assert detect_mime(b"#!/bin/sh\nrm -rf /\n") == UNKNOWN
    assert detect_mime(b"PK\x03\x04 truncated") == UNKNOWN
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(20)
    assert detect_mime(mp4) not in {HEIC, UNKNOWN}
