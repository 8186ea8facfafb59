"""Recording files: crash-safe writer (`Recorder`) and tolerant reader (`read_recording`).

The file format is the contract of docs/ARCHITECTURE.md §4: one JSON Lines file, a header line, then packet
lines ``{"t": <s>, "sensor": "...", "hex": "..."}`` and event lines
``{"t": <s>, "event": "...", "sensor": ..., "value": ...}``. ``t`` is host seconds since the session
started, written with µs precision. Raw notification bytes are the archive; decoding happens on read.
Writer and reader stay in one module (~650 lines) so the file format is defined in one place.

Crash safety
------------
The recorder keeps complete lines in memory and hands them to the OS with one ``os.write`` per flush, so
the file only ever grows by whole lines (a short write is completed on the next flush, never repeated).
It flushes when a write finds the last flush at least ``flush_interval_s`` (0.5 s) old on its injected
clock, when `Recorder.tick` is called on an idle stream, and on close. Flushed data survives a killed
process; ``fsync_interval_s`` (5 s by default) and close make it survive a power loss too.

Compressed recordings (path ends in ``.gz``) are written as one gzip member whose deflate stream is
*sync-flushed* at every flush: everything flushed is decodable, and a file cut by a crash lacks only the
gzip trailer. The reader decompresses incrementally and treats a missing trailer like a truncated last
line. Sync flushes cost ~5 bytes each and keep the compression dictionary, so the ratio stays close to a
one-shot gzip. (Writing a new gzip member per flush would also be crash-safe but compresses worse.)
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hinge.sensing.errors import InputError
from hinge.sensing.types import RawPacket

log = logging.getLogger(__name__)

FORMAT = "hinge-recording"
VERSION = 1
EXERCISES = ("deadlift", "swing", "good_morning", "unknown")
EVENTS = ("connected", "disconnected", "battery", "marker")
SENSOR_FIELDS = ("profile", "profile_toml", "address", "name", "firmware")
# Optional numeric field (an addition to docs/ARCHITECTURE.md §4): the sample rate the sensor was configured to,
# Hz. Decoding needs it for firmware without timestamps and to space the samples inside a packet.
SENSOR_RATE_FIELD = "rate_hz"

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes read (or decompressed) per step
_MAX_HEADER_BYTES = 64 << 20  # a first line longer than this is not a header
_MAX_LOGGED_BAD = 5  # bad lines logged individually; the rest only counted


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """What the header records about one sensor placement (all strings, "" when unknown)."""

    profile: str
    profile_toml: str
    address: str = ""
    name: str = ""
    firmware: str = ""
    rate_hz: float | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A non-packet line: ``event`` is one of EVENTS; ``t_host`` host seconds since start (the file's
    ``t``, named like `RawPacket.t_host` so both items sort and pace alike)."""

    t_host: float
    event: str
    sensor: str | None = None
    value: Any = None


Item = RawPacket | Event


@dataclass
class RecordingStats:
    """Counts from the last full pass over a recording.

    packets, events: items yielded; bad_lines: corrupted lines skipped (not JSON, wrong fields, bad hex,
    unknown sensor or event); truncated_tail: the file ended inside a line (or inside the compressed
    stream), as after a crash.
    """

    packets: int = 0
    events: int = 0
    bad_lines: int = 0
    truncated_tail: bool = False


def _utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default_app_version() -> str:
    from importlib import metadata  # ~50 ms; only a recorder needs it

    try:
        return metadata.version("hinge")
    except metadata.PackageNotFoundError:
        return "unknown"


def _sensor_entry(placement: str, info: SensorInfo | Mapping[str, Any]) -> dict[str, Any]:
    fields = (*SENSOR_FIELDS, SENSOR_RATE_FIELD)
    raw = {f: getattr(info, f) for f in fields} if isinstance(info, SensorInfo) else dict(info)
    unknown = set(raw) - set(fields)
    if unknown:
        raise ValueError(f"sensor {placement!r}: unknown header fields {sorted(unknown)}")
    entry: dict[str, Any] = {f: raw.get(f, "") for f in SENSOR_FIELDS}
    for f, v in entry.items():
        if not isinstance(v, str):
            raise ValueError(f"sensor {placement!r}: field {f!r} must be a string, got {type(v).__name__}")
    if not entry["profile"]:
        raise ValueError(f"sensor {placement!r}: 'profile' is required")
    rate = raw.get(SENSOR_RATE_FIELD)
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValueError(f"sensor {placement!r}: field 'rate_hz' must be a positive number, got {rate!r}")
        entry[SENSOR_RATE_FIELD] = float(rate)
    return entry


def _limits_entry(limits: Mapping[str, tuple[float, float]]) -> dict[str, list[float]]:
    out = {}
    for kind, pair in limits.items():
        values = [float(v) for v in pair]
        if len(values) != 2 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"limits_deg {kind!r}: expected two finite numbers (caution, fault), got {pair!r}")
        out[str(kind)] = values
    return out


class Recorder:
    """Append-only, crash-safe writer of one recording file (context manager; close is idempotent).

    Args:
        path: the ``.jsonl`` (or ``.jsonl.gz``, compressed) file to create.
        sensors: placement name -> SensorInfo (or a mapping with the SENSOR_FIELDS keys); the caller
            passes the full profile TOML text so the recording stays decodable on its own.
        exercise: one of EXERCISES.
        label: free text for the set.
        athlete: the athlete's name or id ("" unknown), written as the header's ``athlete``.
        limits_deg: the fault limits the session judged with, fault kind -> (caution, fault) in degrees, signed
            as the analyzer JSON's ``limit_deg``; written as the header's ``limits_deg`` (omitted when None).
        app_version: written to the header; defaults to the installed ``hinge`` version.
        started_at: wall-clock start (UTC); defaults to now.
        clock: monotonic seconds, used only to decide when to flush (inject a fake in tests).
        flush_interval_s: data handed to the OS at least this often while writes or ticks arrive.
        fsync_interval_s: also fsync at most this often (None: only on close).
        overwrite: replace an existing file (default: refuse, a recording is never rewritten).
        min_free_bytes: refuse to start when the file system has less free space than this.
        compresslevel: zlib level for ``.gz``.

    Raises:
        InputError: at open, before any streaming, when the file cannot be created or written (missing
            directory, no permission, disk full, file exists) -- one line naming the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sensors: Mapping[str, SensorInfo | Mapping[str, str]],
        exercise: str = "unknown",
        label: str = "",
        athlete: str = "",
        limits_deg: Mapping[str, tuple[float, float]] | None = None,
        app_version: str | None = None,
        started_at: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        flush_interval_s: float = 0.5,
        fsync_interval_s: float | None = 5.0,
        overwrite: bool = False,
        min_free_bytes: int = 8 << 20,
        compresslevel: int = 6,
    ) -> None:
        self.path = Path(path)
        if exercise not in EXERCISES:
            raise InputError(f"{self.path}: exercise {exercise!r} is not one of {', '.join(EXERCISES)}")
        if not sensors:
            raise ValueError("Recorder needs at least one sensor")
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        self.header: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "started_at": started_at or _utc_now_iso(),
            "app_version": app_version or _default_app_version(),
            "exercise": exercise,
            "label": label,
            "athlete": str(athlete),
            "sensors": {name: _sensor_entry(name, info) for name, info in sensors.items()},
        }
        if limits_deg is not None:
            self.header["limits_deg"] = _limits_entry(limits_deg)
        # pre-encoded JSON prefix per sensor: write_packet does one dict lookup and one f-string
        self._sensor_json = {name: json.dumps(name) for name in sensors}
        self._clock = clock
        self._flush_interval_s = flush_interval_s
        self._fsync_interval_s = fsync_interval_s
        self._lines: list[str] = []  # complete lines not yet encoded
        self._out = bytearray()  # encoded (maybe compressed) bytes not yet accepted by the OS
        self._n_written = 0  # lines passed to write_*, header excluded
        self._n_encoded = 0  # lines moved from _lines to _out
        self._n_out_lines_end: list[tuple[int, int]] = []  # (offset in _out where a batch ends, lines)
        self.lines_flushed = 0
        """Packet and event lines handed to the OS so far (they survive a killed process)."""
        self._zip = zlib.compressobj(compresslevel, zlib.DEFLATED, 31) if self.path.name.endswith(".gz") else None
        self._fd: int | None = None
        self._closed = False
        self._open(overwrite, min_free_bytes)
        now = self._clock()
        self._last_flush = now
        self._last_fsync = now

    # -- opening ----------------------------------------------------------------------------------

    def _fail(self, what: str, exc: OSError | None = None) -> InputError:
        reason = f": {exc.strerror or exc}" if exc is not None else ""
        return InputError(f"{self.path}: cannot record: {what}{reason}")

    def _open(self, overwrite: bool, min_free_bytes: int) -> None:
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise self._fail(f"directory {parent} does not exist")
        if self.path.is_dir():
            raise self._fail("it is a directory")
        existed = self.path.exists()
        if existed and not overwrite:
            raise self._fail("file exists (recordings are never overwritten; choose another name)")
        try:
            free = shutil.disk_usage(parent).free
        except OSError:
            free = None
        if free is not None and free < min_free_bytes:
            need = f"{free / 2**20:.1f} MiB free, need {min_free_bytes / 2**20:.0f} MiB"
            raise self._fail(f"disk full ({need})")
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        flags |= os.O_TRUNC if overwrite else os.O_EXCL
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise self._fail("cannot create the file", exc) from None
        try:
            header = json.dumps(self.header, ensure_ascii=False, allow_nan=False) + "\n"
            self._append_encoded(header)
            self._write_out()
            os.fsync(self._fd)
            self._fsync_dir(parent)
        except (OSError, InputError) as exc:
            os.close(self._fd)
            self._fd = None
            self._closed = True
            if not existed:
                try:
                    self.path.unlink()
                except OSError:
                    pass
            if isinstance(exc, InputError):
                raise
            raise self._fail("cannot write the header", exc) from None

    @staticmethod
    def _fsync_dir(parent: Path) -> None:
        """Make the new directory entry durable (best effort; not all platforms allow it)."""
        try:
            dfd = os.open(parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    # -- writing ----------------------------------------------------------------------------------

    def write_packet(self, pkt: RawPacket) -> None:
        """Append one packet line (``t`` rounded to µs, payload as lowercase hex)."""
        if self._closed:
            raise ValueError(f"{self.path}: recording is closed")
        sj = self._sensor_json.get(pkt.sensor)
        if sj is None:
            raise self._unknown_sensor(pkt.sensor)
        t = pkt.t_host
        if not math.isfinite(t):
            raise ValueError(f"{self.path}: {pkt.sensor}: packet time {t!r} is not finite")
        self._lines.append(f'{{"t": {t:.6f}, "sensor": {sj}, "hex": "{pkt.payload.hex()}"}}\n')
        self._n_written += 1
        self._maybe_flush()

    def _unknown_sensor(self, sensor: str) -> ValueError:
        return ValueError(f"{self.path}: sensor {sensor!r} is not in the header ({list(self._sensor_json)})")

    def write_event(self, t: float, event: str, sensor: str | None = None, value: Any = None) -> None:
        """Append one event line; ``event`` in EVENTS, ``value`` JSON-serialisable (e.g. battery %)."""
        if self._closed:
            raise ValueError(f"{self.path}: recording is closed")
        if event not in EVENTS:
            raise ValueError(f"{self.path}: event {event!r} is not one of {EVENTS}")
        if sensor is not None and sensor not in self._sensor_json:
            raise self._unknown_sensor(sensor)
        if not math.isfinite(t):
            raise ValueError(f"{self.path}: event time {t!r} is not finite")
        body = {"event": event, "sensor": sensor, "value": value}
        rest = json.dumps(body, ensure_ascii=False, allow_nan=False)
        self._lines.append(f'{{"t": {t:.6f}, {rest[1:]}\n')
        self._n_written += 1
        self._maybe_flush()

    def tick(self) -> None:
        """Flush if the last flush is ``flush_interval_s`` old. Call it regularly while no data arrives."""
        if not self._closed:
            self._maybe_flush()

    def _maybe_flush(self) -> None:
        now = self._clock()
        if now - self._last_flush >= self._flush_interval_s:
            self._flush(now)

    def flush(self) -> None:
        """Hand every complete line to the OS now (no fsync)."""
        if not self._closed:
            self._flush(self._clock())

    def _flush(self, now: float) -> None:
        self._last_flush = now
        if self._lines:
            self._append_encoded("".join(self._lines))
            self._n_encoded += len(self._lines)
            self._lines.clear()
            self._n_out_lines_end.append((len(self._out), self._n_encoded))
        try:
            self._write_out()
        except OSError as exc:
            raise self._fail("write failed", exc) from None
        if self._fsync_interval_s is not None and now - self._last_fsync >= self._fsync_interval_s:
            self._last_fsync = now
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise self._fail("fsync failed", exc) from None

    def _append_encoded(self, text: str) -> None:
        data = text.encode("utf-8")
        if self._zip is not None:
            data = self._zip.compress(data) + self._zip.flush(zlib.Z_SYNC_FLUSH)
        self._out += data

    def _write_out(self) -> None:
        """Write `_out` completely (retrying short writes); on error keep the rest for the next try."""
        written = 0
        try:
            while written < len(self._out):
                n = os.write(self._fd, self._out[written:] if written else self._out)
                if n == 0:
                    raise OSError(28, "no space left on device")
                written += n
        finally:
            if written:
                del self._out[:written]
                while self._n_out_lines_end and self._n_out_lines_end[0][0] <= written:
                    self.lines_flushed = self._n_out_lines_end.pop(0)[1]
                self._n_out_lines_end = [(end - written, n) for end, n in self._n_out_lines_end]

    def close(self) -> None:
        """Flush everything, finish the gzip stream, fsync and close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._lines:
                self._append_encoded("".join(self._lines))
                self._n_encoded += len(self._lines)
                self._lines.clear()
                self._n_out_lines_end.append((len(self._out), self._n_encoded))
            if self._zip is not None:
                self._out += self._zip.flush(zlib.Z_FINISH)
                self._n_out_lines_end.append((len(self._out), self._n_encoded))
            self._write_out()
            os.fsync(self._fd)
        except OSError as exc:
            raise self._fail("closing failed", exc) from None
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None and not self._closed:
            log.warning("%s: recorder was not closed; closing now", self.path)
            try:
                self.close()
            except Exception:  # noqa: BLE001 - never raise from a finaliser
                pass


# ------------------------------------------------------------------------------------------------
# reading


def _iter_bytes(path: Path, start: int, trouble: Callable[[str], None]) -> Iterator[bytes]:
    """Yield the (decompressed) file content from uncompressed offset ``start`` in chunks.

    A compressed stream that ends early or is corrupt reports through ``trouble`` and stops: everything
    decoded before the damage is still yielded. Concatenated gzip members are read one after another.
    """
    with open(path, "rb") as f:
        if f.read(2) != _GZIP_MAGIC:
            f.seek(start)
            while chunk := f.read(_CHUNK):
                yield chunk
            return
        f.seek(0)
        skip = start
        d = zlib.decompressobj(47)
        raw = b""
        while True:
            if not raw:
                raw = f.read(_CHUNK)
                if not raw:
                    if not d.eof:
                        trouble("compressed stream ends early (no gzip trailer)")
                    return
            try:
                out = d.decompress(raw, _CHUNK)
            except zlib.error as exc:
                trouble(f"compressed data corrupt ({exc})")
                return
            raw = d.unconsumed_tail
            if skip:
                cut = min(skip, len(out))
                out, skip = out[cut:], skip - cut
            if out:
                yield out
            if d.eof:
                rest = d.unused_data + raw
                if len(rest) < 2:
                    rest += f.read(_CHUNK)
                if not rest.strip(b"\0"):
                    return
                if rest[:2] != _GZIP_MAGIC:
                    trouble("unexpected bytes after the compressed stream")
                    return
                d, raw = zlib.decompressobj(47), rest  # another gzip member follows


def _iter_lines(path: Path, start: int, trouble: Callable[[str], None]) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(offset, line, complete)``; ``complete`` is False only for a last line without newline."""
    pending = b""
    offset = start
    for chunk in _iter_bytes(path, start, trouble):
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield offset, line, True
            offset += len(line) + 1
    tail = pending.rstrip(b"\0")  # power loss can leave zero-filled blocks at the end
    if tail:
        yield offset, tail, False


def _parse_header(path: Path) -> tuple[dict[str, Any], int]:
    """Return the header dict and the offset of the line after it, or raise a one-line InputError."""
    expected = f'expected a hinge recording (JSON Lines starting with {{"format": "{FORMAT}", ...}})'
    if not path.exists():
        raise InputError(f"{path}: no such file; {expected}")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; {expected}")
    buf = b""
    try:
        for chunk in _iter_bytes(path, 0, lambda _msg: None):
            buf += chunk
            if b"\n" in buf or len(buf) > _MAX_HEADER_BYTES:
                break
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc}); {expected}") from None
    first, newline, _ = buf.partition(b"\n")
    complete = bool(newline)
    if not first.strip():
        raise InputError(f"{path}: empty file; {expected}")
    try:
        header = json.loads(first)
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        cut = " (first line is cut short)" if not complete else ""
        raise InputError(f"{path}: not a hinge recording{cut}; {expected}")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{path}: unknown recording version {version!r}; expected version {VERSION}")
    if version > VERSION:
        raise InputError(
            f"{path}: recording version {version} is newer than this hinge reads (version {VERSION}); update hinge"
        )
    sensors = header.get("sensors")
    if not isinstance(sensors, dict) or not all(isinstance(v, dict) for v in sensors.values()):
        raise InputError(f"{path}: header field 'sensors' must map placement names to objects")
    return header, len(first) + 1


# A packet line exactly as Recorder writes it (always valid JSON): parsed without json.loads.
_PACKET_LINE = re.compile(rb'\{"t": (-?[0-9]+\.[0-9]{6}), "sensor": "([A-Za-z0-9_]+)", "hex": "((?:[0-9a-f]{2})*)"\}')


def _parse_item(line: bytes, sensors: Mapping[str, Any]) -> Item | None:
    """One body line -> RawPacket or Event, or None when it is corrupted."""
    m = _PACKET_LINE.fullmatch(line)
    if m is not None:
        sensor = m.group(2).decode()
        return RawPacket(float(m.group(1)), sensor, bytes.fromhex(m.group(3).decode())) if sensor in sensors else None
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    t = obj.get("t")
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t):
        return None
    sensor = obj.get("sensor")
    if "hex" in obj:
        h = obj["hex"]
        if len(obj) != 3 or sensor not in sensors or not isinstance(h, str):
            return None
        try:
            payload = bytes.fromhex(h)
        except ValueError:
            return None
        if len(payload) * 2 != len(h):  # fromhex skips whitespace; a recorder never writes any
            return None
        return RawPacket(float(t), sensor, payload)
    event = obj.get("event")
    if event not in EVENTS or (sensor is not None and sensor not in sensors) or len(obj) > 4:
        return None
    return Event(float(t), event, sensor, obj.get("value"))


@dataclass
class Recording:
    """A recording file opened for reading (header validated; body read lazily).

    Iterating yields RawPacket and Event items in file order as fast as possible (no pacing) and
    refreshes `stats`. Corrupted lines are skipped and counted; a truncated last line is ignored with
    a warning. Iterating again reads the file again.
    """

    path: Path
    header: dict[str, Any]
    body_offset: int
    stats: RecordingStats = field(default_factory=RecordingStats)

    @property
    def sensors(self) -> dict[str, dict[str, Any]]:
        """Placement name -> header sensor entry (profile, profile_toml, address, name, firmware)."""
        return self.header["sensors"]

    def __iter__(self) -> Iterator[Item]:
        self.stats = RecordingStats()
        for _offset, item in self.iter_from(self.body_offset, self.stats):
            yield item

    def packets(self) -> Iterator[RawPacket]:
        """Only the packets, in file order."""
        for item in self:
            if isinstance(item, RawPacket):
                yield item

    def iter_from(
        self, offset: int, stats: RecordingStats | None = None, *, skip_before: float | None = None
    ) -> Iterator[tuple[int, Item]]:
        """Yield ``(line_offset, item)`` from an offset previously yielded (or `body_offset`).

        Offsets count uncompressed bytes, so they are valid for ``.gz`` files too (where resuming
        decompresses from the start). Counts go to ``stats`` (a fresh one when None). Items with
        ``t < skip_before`` are dropped cheaply (used by replay seeks); they are not counted.
        """
        stats = stats if stats is not None else RecordingStats()
        sensors = self.sensors
        path = self.path

        def trouble(msg: str) -> None:
            stats.truncated_tail = True
            log.warning("%s: %s; ignoring the rest", path, msg)

        first_lineno = 2 if offset == self.body_offset else None  # line numbers known from the start
        for i, (off, line, complete) in enumerate(_iter_lines(path, offset, trouble)):
            if skip_before is not None:
                t = _quick_t(line)
                if t is not None and t < skip_before:
                    continue
            item = _parse_item(line, sensors)
            if item is None:
                if not line.strip():
                    continue
                where = f"line {first_lineno + i}" if first_lineno else f"byte {off}"
                if not complete:
                    stats.truncated_tail = True
                    log.warning(
                        "%s: last line is cut short (%s, %d bytes), as after a crash; ignored",
                        path,
                        where,
                        len(line),
                    )
                    continue
                stats.bad_lines += 1
                if stats.bad_lines <= _MAX_LOGGED_BAD:
                    log.warning("%s: %s is corrupted; skipped", path, where)
                continue
            if skip_before is not None:
                if item.t_host < skip_before:
                    continue
                skip_before = None
            if isinstance(item, RawPacket):
                stats.packets += 1
            else:
                stats.events += 1
            yield off, item
        if stats.bad_lines > _MAX_LOGGED_BAD:
            log.warning("%s: %d corrupted lines skipped in total", path, stats.bad_lines)


def _quick_t(line: bytes) -> float | None:
    """The ``t`` of a line as the recorder writes it (``{"t": <num>, ...``), without a JSON parse."""
    if not line.startswith(b'{"t": '):
        return None
    end = line.find(b",", 6)
    try:
        return float(line[6:end]) if end > 0 else None
    except ValueError:
        return None


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Open a recording (``.jsonl`` or gzip-compressed, detected from its content) for reading.

    Raises:
        InputError: one line naming the file when it is missing, empty, not a hinge recording, or of an
            unknown or newer version.
    """
    p = Path(path)
    header, body_offset = _parse_header(p)
    return Recording(p, header, body_offset)
