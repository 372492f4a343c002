"""A streaming ``multipart/related`` reader: each part goes straight to a temporary file, never to memory.

The body is fed chunk by chunk (:meth:`PartWriter.feed`); every finished part is handed back as a
:class:`Part` (its temporary file is fsynced and closed), so the caller can store it while the rest of the
body is still arriving. A part over ``max_part_bytes`` is not written further (its first bytes stay, for
the header) and comes back marked ``oversized``; a part whose own Content-Type is not the expected one
comes back marked with that type and no file. A body that is not valid multipart, or that ends before
its closing boundary, raises :class:`MultipartError`.

Parsing uses python-multipart's streaming parser, which accepts the usual client quirks: a first
boundary without a leading CRLF, a preamble, quoted or unquoted boundaries, header names in any case.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from dicom_node.errors import MultipartError
from dicom_node.storage import temp_path

MAX_PREAMBLE = 64 * 1024


@dataclass
class Part:
    index: int
    content_type: str
    path: Path | None = None  # None: nothing written (wrong content type)
    size: int = 0
    oversized: bool = False

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = None


@dataclass
class _Current:
    part: Part
    fd: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    field_name: bytearray = field(default_factory=bytearray)
    field_value: bytearray = field(default_factory=bytearray)


def boundary_of(content_type: str) -> tuple[str, dict[str, str]]:
    """(media type, parameters) of a Content-Type header, lower-case type and parameter names."""
    media, options = parse_options_header(content_type)
    params = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in options.items()}
    return media.decode("latin-1").lower(), params


class PartWriter:
    """Writes the parts of one body into ``folder`` as hidden temporary files (see :func:`temp_path`)."""

    def __init__(
        self,
        boundary: str,
        folder: Path,
        default_type: str,
        accepted_type: str,
        max_part_bytes: int,
        prefix: str = "stow-part",
    ) -> None:
        self.folder = folder
        self.prefix = prefix
        self.default_type = default_type.lower()
        self.accepted_type = accepted_type.lower()
        self.max_part_bytes = max_part_bytes
        self.fsync = True
        self.finished: list[Part] = []
        self.ended = False
        self._count = 0
        self._current: _Current | None = None
        self._preamble: bytes | None = b""  # None once the first delimiter was found
        self._delimiter = b"\r\n--" + boundary.encode("latin-1", "replace")
        try:
            self._parser = MultipartParser(
                boundary.encode("latin-1"),
                {
                    "on_part_begin": self._begin,
                    "on_header_field": self._header_field,
                    "on_header_value": self._header_value,
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": self._data,
                    "on_part_end": self._end,
                    "on_end": self._body_end,
                },
            )
        except (FormParserError, UnicodeEncodeError) as exc:
            raise MultipartError(f"unusable boundary: {exc}") from None

    # -- feeding --------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> list[Part]:
        """Parse ``chunk``; return the parts it finished (their files closed and fsynced)."""
        if self.ended:
            return []  # an epilogue after the closing boundary is ignored (RFC 2046)
        if self._preamble is not None:
            chunk = self._skip_preamble(chunk)
            if not chunk:
                return []
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise MultipartError(f"not a valid multipart body: {exc}") from None
        done, self.finished = self.finished, []
        return done

    def _skip_preamble(self, chunk: bytes) -> bytes:
        """Drop a preamble (RFC 2046: text before the first delimiter), which the parser refuses."""
        assert self._preamble is not None
        data = self._preamble + chunk
        if data.startswith(self._delimiter[2:]):
            self._preamble = None
            return data
        found = data.find(self._delimiter)
        if found >= 0:
            self._preamble = None
            return data[found + 2 :]
        if len(data) > MAX_PREAMBLE:
            raise MultipartError("no boundary delimiter in the first 64 KiB of the body")
        self._preamble = data
        return b""

    def close(self) -> None:
        """The body has ended: it must have had its closing boundary. Removes an unfinished part's file."""
        self.abort()
        if self._preamble is not None:
            raise MultipartError("the body has no boundary delimiter")
        if not self.ended:
            raise MultipartError("the body ended before its closing boundary")

    def abort(self) -> None:
        """Remove the file of a part still being written (the body stopped or was refused)."""
        if self._current is not None:
            self._close_file(self._current, keep=False)
            self._current = None

    # -- callbacks ------------------------------------------------------------------------------
    def _begin(self) -> None:
        self._count += 1
        self._current = _Current(Part(self._count, self.default_type))

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        assert self._current is not None
        self._current.field_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        assert self._current is not None
        self._current.field_value += data[start:end]

    def _header_end(self) -> None:
        current = self._current
        assert current is not None
        name = current.field_name.decode("latin-1").strip().lower()
        current.headers[name] = current.field_value.decode("latin-1").strip()
        current.field_name.clear()
        current.field_value.clear()

    def _headers_finished(self) -> None:
        current = self._current
        assert current is not None
        media, _ = boundary_of(current.headers.get("content-type", self.default_type))
        current.part.content_type = media
        if media != self.accepted_type:
            return  # not written: fails alone
        path = temp_path(self.folder / f"{self.prefix}-{current.part.index}")
        current.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        current.part.path = path

    def _data(self, data: bytes, start: int, end: int) -> None:
        current = self._current
        assert current is not None
        length = end - start
        part = current.part
        if current.fd is None or part.oversized:
            part.size += length
            return
        if part.size + length > self.max_part_bytes:
            part.oversized = True  # keep what is written (the header is in the first bytes), stop here
            part.size += length
            return
        view = memoryview(data)[start:end]
        while view:
            written = os.write(current.fd, view)
            view = view[written:]
        part.size += length

    def _end(self) -> None:
        current = self._current
        assert current is not None
        self._close_file(current, keep=True)
        self.finished.append(current.part)
        self._current = None

    def _body_end(self) -> None:
        self.ended = True

    def _close_file(self, current: _Current, keep: bool) -> None:
        if current.fd is None:
            return
        try:
            if keep and self.fsync and not current.part.oversized:
                os.fsync(current.fd)
        finally:
            os.close(current.fd)
            current.fd = None
        if not keep:
            current.part.discard()
