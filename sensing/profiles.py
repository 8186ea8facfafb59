"""Firmware profiles: load the declarative TOML files in `firmware_profiles/` and turn them into codecs.

A profile describes one sensor firmware completely (discovery, GATT, commands, packet layout, scales, axes,
rates, battery); see `firmware_profiles/README.md` for the file format. Loading validates every field and
raises `hinge.sensing.errors.InputError` naming the file and the field. Each profile compiles once to numpy
dtypes; decoding is vectorised with `np.frombuffer`, and `Profile.encode` is its exact inverse up to
quantisation, so simulators and emulated peripherals emit real packet bytes.

Size (~1,150 lines, over the ~600 guideline on purpose): the TOML checker, the compiled packet layout,
the decoder and the encoder share private types (field specs, dtypes, framing); one module keeps the
profile format with a single reader and writer.

Typical use::

    prof = load("witmotion-bwt901ble")
    dec = prof.decoder()               # one per connection (byte-stream framing, counter unwrapping)
    s = dec.feed(payload)              # Samples: acc (n,3) m/s², gyr (n,3) rad/s, seq, device_time_s
    payloads = prof.encode(acc, gyr)   # list of notification payloads (bytes)
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.resources
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hinge.sensing.errors import InputError

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

log = logging.getLogger(__name__)

# the shipped profiles are package data of `hinge.firmware_profiles` (the `firmware_profiles/` folder)
PROFILE_DIR = Path(str(importlib.resources.files("hinge.firmware_profiles")))
DEFAULT_PROFILE = "hinge-ref"  # our reference firmware: what demos, simulations and CSV replays encode
SCHEMA_VERSION = 1
G0 = 9.80665  # m/s² per g (our choice, see research/sensor-protocols.md)
DEFAULT_MTU = 23
MAX_ACC = 2000.0  # m/s² (~200 g): larger decoded values are garbage
MAX_GYR = 200.0  # rad/s (~11500 deg/s)

_TYPES = {"u8": "u1", "i8": "i1", "u16": "u2", "i16": "i2", "u32": "u4", "i32": "i4",
          "f32": "f4", "f64": "f8"}
_ACC_UNITS = {"g": G0, "mg": G0 / 1000.0, "m/s2": 1.0}
_GYR_UNITS = {"deg/s": math.pi / 180.0, "mdeg/s": math.pi / 180.0e3, "rad/s": 1.0}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_COMMAND_KINDS = ("set_rate", "start", "stop")
_UUID_EXAMPLE = "0000180f-0000-1000-8000-00805f9b34fb"
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX_RE = re.compile(r"^([0-9A-Fa-f]{2}|\{rate_code\})(\s*([0-9A-Fa-f]{2}|\{rate_code\}))*$")


# ----------------------------------------------------------------------------------------------------------
# Decoded data


@dataclass(frozen=True)
class Samples:
    """Decoded samples of one notification (n may be 0).

    acc: (n, 3) float64 m/s², sensor frame. gyr: (n, 3) float64 rad/s, sensor frame.
    seq: (n,) int64 sample counter, unwrapped (continuous across the firmware's counter wrap), or None
        when the firmware sends no counter.
    device_time_s: (n,) float64 device clock in seconds, unwrapped, or None when the firmware sends no
        timestamp. Samples after the first of a packet are spaced by 1/rate_hz of the decoder.
    """

    acc: np.ndarray
    gyr: np.ndarray
    seq: np.ndarray | None = None
    device_time_s: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.acc)

    @staticmethod
    def empty(has_seq: bool = False, has_time: bool = False) -> Samples:
        z = np.zeros((0, 3))
        return Samples(
            z, z.copy(), np.zeros(0, np.int64) if has_seq else None, np.zeros(0) if has_time else None
        )

    @staticmethod
    def concat(parts: Sequence[Samples]) -> Samples:
        """Join several Samples (all with or all without seq / device time) into one."""
        if not parts:
            return Samples.empty()
        seq = None if parts[0].seq is None else np.concatenate([p.seq for p in parts])
        tdev = None if parts[0].device_time_s is None else np.concatenate([p.device_time_s for p in parts])
        return Samples(
            np.concatenate([p.acc for p in parts]), np.concatenate([p.gyr for p in parts]), seq, tdev
        )


@dataclass
class DecoderStats:
    """Counters of one decoder. packets: payloads fed; frames: data frames decoded; samples: samples
    decoded; bad_packets: payloads (or, for byte streams, resync events) rejected; bytes_skipped: bytes
    thrown away; aux_frames: non-data frames consumed (e.g. register replies)."""

    packets: int = 0
    frames: int = 0
    samples: int = 0
    bad_packets: int = 0
    bytes_skipped: int = 0
    aux_frames: int = 0


@dataclass(frozen=True)
class Command:
    """One GATT write: `data` to characteristic `char_uuid`, then wait `delay_s` seconds."""

    data: bytes
    char_uuid: str
    delay_s: float = 0.0
    with_response: bool = False


# ----------------------------------------------------------------------------------------------------------
# Profile description (validated)


@dataclass(frozen=True)
class FieldSpec:
    """One packet field. kind: 'acc', 'gyr', 'seq', 'time' or 'other'. si_scale: SI units per LSB
    (m/s², rad/s or s); value: constant checked on decode and written on encode (None: free)."""

    name: str
    type: str
    count: int = 1
    si_scale: float = 1.0
    value: int | None = None
    counts: str = "samples"  # seq only: 'samples' or 'packets'
    sample: str = "first"  # time only: which sample of the packet the stamp refers to

    @property
    def kind(self) -> str:
        return self.name if self.name in ("acc", "gyr", "seq", "time") else "other"


@dataclass(frozen=True)
class StepSpec:
    hex: str
    char: str
    delay_s: float
    with_response: bool


@dataclass(frozen=True)
class Battery:
    """How to read the battery. kind 'gatt': read/notify `char` in `service`; kind 'command': write
    `command`, the reply frame starts with `reply_prefix` and holds the value at `offset`; kind 'none'."""

    kind: str = "none"
    service: str = ""
    char: str = ""
    command: bytes = b""
    reply_prefix: bytes = b""
    offset: int = 0
    type: str = "u8"
    scale: float = 1.0
    unit: str = "%"


@functools.cache
def _np_type(t: str, byte_order: str) -> np.dtype:
    return np.dtype(("<" if byte_order == "little" else ">") + _TYPES[t])


class _Checker:
    """Reads fields out of parsed TOML and raises InputError naming the file and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, msg: str) -> InputError:
        return InputError(f"{self.source}: field {where}: {msg}")

    def table(self, data: dict, key: str, where: str, *, required: bool = True) -> dict:
        if key not in data:
            if required:
                raise self.fail(where, "missing (expected a table)")
            return {}
        val = data[key]
        if not isinstance(val, dict):
            raise self.fail(where, f"expected a table, got {val!r}")
        return val

    def unknown(self, data: dict, allowed: Sequence[str], where: str) -> None:
        for k in data:
            if k not in allowed:
                prefix = f"{where}." if where else ""
                raise self.fail(f"{prefix}{k}", f"unknown field (allowed: {', '.join(allowed)})")

    def get(self, data: dict, key: str, where: str, kind: str, default: Any = ...) -> Any:
        if key not in data:
            if default is ...:
                raise self.fail(where, f"missing (expected {_KIND_TEXT[kind]})")
            return default
        val = data[key]
        ok = {
            "str": isinstance(val, str),
            "int": isinstance(val, int) and not isinstance(val, bool),
            "number": isinstance(val, (int, float)) and not isinstance(val, bool),
            "bool": isinstance(val, bool),
            "list": isinstance(val, list),
        }[kind]
        if not ok:
            raise self.fail(where, f"expected {_KIND_TEXT[kind]}, got {val!r}")
        if kind == "number" and not math.isfinite(val):
            raise self.fail(where, f"expected a finite number, got {val!r}")
        return val

    def choice(self, data: dict, key: str, where: str, choices: Sequence[str], default: Any = ...) -> str:
        val = self.get(data, key, where, "str", default)
        if val not in choices:
            raise self.fail(where, f"expected one of {', '.join(map(repr, choices))}, got {val!r}")
        return val

    def uuid(self, data: dict, key: str, where: str, default: Any = ...) -> str:
        val = self.get(data, key, where, "str", default)
        if val == "" and default == "":
            return ""
        val = val.lower()
        if not _UUID_RE.match(val):
            raise self.fail(where, f"expected a 128-bit UUID like {_UUID_EXAMPLE}, got {val!r}")
        return val

    def hexbytes(self, val: Any, where: str, *, template: bool = False) -> str:
        if not isinstance(val, str):
            raise self.fail(where, f"expected a hex string such as 'FF AA 03', got {val!r}")
        text = val.strip()
        if text == "":
            return ""
        if not _HEX_RE.match(text) or (not template and "{" in text):
            what = "hex bytes (optionally with {rate_code})" if template else "hex bytes such as 'FF AA 03'"
            raise self.fail(where, f"expected {what}, got {val!r}")
        return text


_KIND_TEXT = {"str": "a string", "int": "an integer", "number": "a number", "bool": "true or false",
              "list": "a list"}


def _hex_to_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@dataclass(frozen=True, eq=False)
class Profile:
    """A validated firmware profile. Build with `load()` / `loads()`; see module docstring."""

    name: str
    source: str
    raw_text: str
    product: str
    notes: str
    name_patterns: tuple[str, ...]
    service_uuids: tuple[str, ...]
    service: str
    notify: str
    write: str
    write_with_response: bool
    mtu: int
    nominal_hz: float
    supported_hz: tuple[float, ...]
    rate_codes: dict[float, str]
    _commands: dict[str, tuple[StepSpec, ...]]
    byte_order: str
    framing: str
    sync: bytes
    skip_frames: tuple[bytes, ...]
    samples_per_packet: int
    max_samples_per_packet: int
    sample_layout: str
    pad_to: int
    header_fields: tuple[FieldSpec, ...]
    sample_fields: tuple[FieldSpec, ...]
    axes: dict[str, str]
    battery: Battery
    _dtypes: dict[int, np.dtype] = field(default_factory=dict, repr=False)

    # -- layout ------------------------------------------------------------------------------------------
    @property
    def has_seq(self) -> bool:
        return any(f.kind == "seq" for f in self.header_fields)

    @property
    def has_device_time(self) -> bool:
        return any(f.kind == "time" for f in self.header_fields)

    @property
    def header_size(self) -> int:
        return len(self.sync) + sum(_np_type(f.type, self.byte_order).itemsize * f.count
                                    for f in self.header_fields)

    @property
    def sample_size(self) -> int:
        return sum(_np_type(f.type, self.byte_order).itemsize * f.count for f in self.sample_fields)

    @property
    def variable_samples(self) -> bool:
        return self.max_samples_per_packet != self.samples_per_packet

    def frame_size(self, n_samples: int | None = None) -> int:
        """Bytes of one frame holding `n_samples` samples (default: samples_per_packet), before padding."""
        return self.header_size + self.sample_size * (n_samples or self.samples_per_packet)

    def dtype(self, n_samples: int | None = None) -> np.dtype:
        """Numpy structured dtype of one frame with `n_samples` samples (compiled once, cached)."""
        n = n_samples or self.samples_per_packet
        dt = self._dtypes.get(n)
        if dt is None:
            dt = self._compile(n)
            self._dtypes[n] = dt
        return dt

    def _compile(self, n: int) -> np.dtype:
        fields: list[tuple] = []
        if self.sync:
            fields.append(("_sync", "u1", (len(self.sync),)))
        for f in self.header_fields:
            fields.append(_dt_entry("h_" + f.name, _np_type(f.type, self.byte_order), f.count))
        if self.sample_layout == "interleaved":
            sdt = np.dtype([_dt_entry(f.name, _np_type(f.type, self.byte_order), f.count)
                            for f in self.sample_fields])
            fields.append(("samples", sdt, (n,)))
        else:
            for f in self.sample_fields:
                shape = (n, f.count) if f.count > 1 else (n,)
                fields.append(("p_" + f.name, _np_type(f.type, self.byte_order), shape))
        dt = np.dtype(fields)
        assert dt.itemsize == self.frame_size(n)
        return dt

    # -- discovery ---------------------------------------------------------------------------------------
    def matches(self, name: str | None, service_uuids: Sequence[str] = ()) -> bool:
        """True if an advertisement (local name, advertised service UUIDs) looks like this firmware."""
        adv = {u.lower() for u in service_uuids}
        if adv & set(self.service_uuids):
            return True
        if name:
            return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in self.name_patterns)
        return False

    # -- commands ----------------------------------------------------------------------------------------
    def commands(self, kind: str, rate_hz: float | None = None) -> list[Command]:
        """The GATT writes for `kind` ('set_rate', 'start' or 'stop') as bytes, `{rate_code}` filled in
        for `rate_hz` (default: nominal rate). Raises InputError for a rate the profile does not support."""
        if kind not in _COMMAND_KINDS:
            raise ValueError(f"unknown command kind {kind!r}; expected one of {_COMMAND_KINDS}")
        steps = self._commands.get(kind, ())
        code = None
        out = []
        for st in steps:
            text = st.hex
            if "{rate_code}" in text:
                if code is None:
                    code = self.rate_code(rate_hz)
                text = text.replace("{rate_code}", code)
            out.append(Command(_hex_to_bytes(text), st.char, st.delay_s, st.with_response))
        return out

    def rate_code(self, rate_hz: float | None = None) -> str:
        rate = float(self.nominal_hz if rate_hz is None else rate_hz)
        if rate not in self.rate_codes:
            rates = ", ".join(f"{r:g}" for r in sorted(self.rate_codes))
            raise InputError(f"profile {self.name}: rate {rate:g} Hz not supported (supported: {rates} Hz)")
        return self.rate_codes[rate]

    # -- codec -------------------------------------------------------------------------------------------
    def decoder(self, rate_hz: float | None = None) -> Decoder:
        """A fresh stateful decoder for one connection; `rate_hz` (default nominal) spaces the device
        times of samples within one packet."""
        return Decoder(self, float(self.nominal_hz if rate_hz is None else rate_hz))

    def decode(self, payload: bytes, rate_hz: float | None = None) -> Samples:
        """Decode one payload with a throw-away decoder (no framing or unwrapping state)."""
        return self.decoder(rate_hz).feed(payload)

    def encode(self, acc: np.ndarray, gyr: np.ndarray, *, seq: np.ndarray | None = None,
               device_time_s: np.ndarray | None = None, rate_hz: float | None = None) -> list[bytes]:
        """Notification payloads carrying the given samples (the inverse of `Decoder.feed`).

        acc: (n, 3) m/s²; gyr: (n, 3) rad/s; values are quantised to the packet's types and clipped to
        their range. seq: (n,) sample counter (default 0..n-1), written modulo the field's range.
        device_time_s: (n,) device seconds (default i / rate_hz). Samples are grouped
        `samples_per_packet` per frame; a variable-length profile sends the remainder in a shorter
        frame, a fixed-length one requires n to be a multiple. Stream-framed profiles return one frame
        per payload (split them as you like).
        """
        acc = np.asarray(acc, dtype=float).reshape(-1, 3)
        gyr = np.asarray(gyr, dtype=float).reshape(-1, 3)
        n = len(acc)
        if len(gyr) != n:
            raise ValueError(f"acc has {n} samples but gyr has {len(gyr)}")
        rate = float(self.nominal_hz if rate_hz is None else rate_hz)
        seq = np.arange(n, dtype=np.int64) if seq is None else np.asarray(seq, dtype=np.int64)
        tdev = np.arange(n) / rate if device_time_s is None else np.asarray(device_time_s, dtype=float)
        k = self.samples_per_packet
        if n % k and not self.variable_samples:
            raise ValueError(f"profile {self.name}: {n} samples is not a multiple of {k} per packet")
        out: list[bytes] = []
        n_full = n - n % k
        if n_full:
            out += self._encode_frames(acc[:n_full], gyr[:n_full], seq[:n_full], tdev[:n_full], k, rate)
        if n % k:
            out += self._encode_frames(acc[n_full:], gyr[n_full:], seq[n_full:], tdev[n_full:], n % k, rate)
        return out

    def _encode_frames(self, acc, gyr, seq, tdev, k: int, rate: float) -> list[bytes]:
        n_frames = len(acc) // k
        arr = np.zeros(n_frames, dtype=self.dtype(k))
        if self.sync:
            arr["_sync"] = np.frombuffer(self.sync, dtype=np.uint8)
        for f in self.header_fields:
            dt = _np_type(f.type, self.byte_order)
            if f.value is not None:
                arr["h_" + f.name] = f.value
            elif f.kind == "seq":
                first = seq[::k] if f.counts == "samples" else seq[::k] // k
                arr["h_" + f.name] = np.mod(first, 1 << (8 * dt.itemsize)).astype(dt)
            elif f.kind == "time":
                ref = tdev[::k] if f.sample == "first" else tdev[k - 1 :: k]
                ticks = np.round(ref / f.si_scale).astype(np.int64)
                arr["h_" + f.name] = np.mod(ticks, 1 << (8 * dt.itemsize)).astype(dt)
        for f in self.sample_fields:
            if f.kind not in ("acc", "gyr"):
                continue
            vals = (acc if f.kind == "acc" else gyr).reshape(n_frames, k, 3)
            raw = _quantise(vals / f.si_scale, _np_type(f.type, self.byte_order))
            if self.sample_layout == "interleaved":
                arr["samples"][f.name] = raw
            else:
                arr["p_" + f.name] = raw
        if self.sample_layout == "interleaved":
            for f in self.sample_fields:
                if f.value is not None:
                    arr["samples"][f.name] = f.value
        data = arr.tobytes()
        size = arr.dtype.itemsize
        frames = [data[i * size : (i + 1) * size] for i in range(n_frames)]
        if self.pad_to > size:
            frames = [fr + bytes(self.pad_to - size) for fr in frames]
        return frames

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, {self.source!r})"


def _dt_entry(name: str, dt: np.dtype, count: int) -> tuple:
    return (name, dt, (count,)) if count > 1 else (name, dt)


def _quantise(x: np.ndarray, dt: np.dtype) -> np.ndarray:
    if dt.kind == "f":
        return x.astype(dt)
    info = np.iinfo(dt)
    return np.clip(np.round(x), info.min, info.max).astype(dt)


# ----------------------------------------------------------------------------------------------------------
# Decoder


class Decoder:
    """Stateful decoder for one connection: byte-stream framing, counter and timestamp unwrapping.

    `feed(payload)` never raises on bad data: wrong-length or garbage payloads are counted in `stats`
    and skipped. For a stream-framed profile the decoder buffers partial frames between payloads.
    `battery` holds the last battery reading seen in-band (value in `profile.battery.unit`), or None.
    """

    def __init__(self, profile: Profile, rate_hz: float) -> None:
        self.profile = profile
        self.rate_hz = rate_hz
        self.stats = DecoderStats()
        self.battery: float | None = None
        self._buf = bytearray()
        self._skipping = False
        self._seq_last: int | None = None  # last raw (wrapped) per-sample seq
        self._seq_unwrapped: int = 0
        self._time_last: int | None = None  # last raw ticks
        self._time_unwrapped: int = 0
        self._seq_field = next((f for f in profile.header_fields if f.kind == "seq"), None)
        self._time_field = next((f for f in profile.header_fields if f.kind == "time"), None)
        self._acc = next(f for f in profile.sample_fields if f.kind == "acc")
        self._gyr = next(f for f in profile.sample_fields if f.kind == "gyr")
        self._empty = Samples.empty(profile.has_seq, profile.has_device_time)
        self._sync_np = np.frombuffer(profile.sync, dtype=np.uint8)
        self._layouts: dict[int, tuple[int, int, np.dtype] | None] = {}  # payload length -> (k, frame size, dtype)
        # the constant bytes of every frame (sync, fixed header values) as (offset, bytes): the one
        # definition both checks use (`_constants_ok` on frame rows, `_constants_ok_one` on a payload)
        dt = profile.dtype()
        self._const_bytes = [(0, bytes(profile.sync))] if profile.sync else []
        for f in profile.header_fields:
            if f.value is not None:
                field_dt, offset = dt.fields["h_" + f.name][:2]
                self._const_bytes.append((offset, np.full(field_dt.shape, f.value, field_dt.base).tobytes()))
        self._const_rows = [(o, np.frombuffer(b, dtype=np.uint8)) for o, b in self._const_bytes]
        self._always_plausible = all(  # integer fields whose whole range scales to plausible values
            _np_type(f.type, profile.byte_order).kind in "iu"
            and np.iinfo(_np_type(f.type, profile.byte_order)).max * f.si_scale <= limit
            and -np.iinfo(_np_type(f.type, profile.byte_order)).min * f.si_scale <= limit
            for f, limit in ((self._acc, MAX_ACC), (self._gyr, MAX_GYR)))

    def feed(self, payload: bytes) -> Samples:
        """Decode one notification payload -> Samples (n may be 0). Never raises for bad bytes:
        `feed_many` of one payload (one decoding path)."""
        return self.feed_many((payload,))[0]

    def feed_many(self, payloads: Sequence[bytes]) -> tuple[Samples, np.ndarray]:
        """Decode several notification payloads (in arrival order) at once.

        Returns the Samples of all of them, concatenated, and `packet_index` (n,) int64: the position in
        `payloads` of the payload each sample came from (for byte streams: the payload that completed its
        frame). The result, the decoder state and `stats` are exactly those of calling `feed` on each
        payload in turn; payloads of equal length are decoded with one `np.frombuffer`. Never raises for
        bad bytes.
        """
        self.stats.packets += len(payloads)
        try:
            if self.profile.framing == "stream":
                parts = self._frames_stream(payloads)
            else:
                parts = self._frames_notification(payloads)
            return self._convert(parts)
        except Exception:  # noqa: BLE001 - a decoder must never take the pipeline down
            n_bytes = sum(len(p) for p in payloads)
            log.exception("%s: decoder failure on %d payloads (%d bytes)", self.profile.name, len(payloads), n_bytes)
            self.stats.bad_packets += len(payloads)
            self.stats.bytes_skipped += n_bytes
            return self._empty, np.zeros(0, np.int64)

    def _reject(self, count: int, n_bytes: int) -> None:
        self.stats.bad_packets += count
        self.stats.bytes_skipped += n_bytes

    def _frame_samples(self, n_bytes: int) -> int | None:
        """Samples in a notification of `n_bytes` bytes, or None when no valid frame has that length."""
        p = self.profile
        if p.variable_samples:
            body = n_bytes - p.header_size
            if body <= 0 or body % p.sample_size or body // p.sample_size > p.max_samples_per_packet:
                return None
            return body // p.sample_size
        size = p.frame_size()
        if n_bytes == size or (p.pad_to and size < n_bytes <= p.pad_to):
            return p.samples_per_packet
        return None

    # notification framing: one payload = one frame (plus optional zero padding)
    def _frames_notification(self, payloads: Sequence[bytes]) -> list[_Frames]:
        p = self.profile
        by_len: dict[int, list[int]] = {}
        for i, pl in enumerate(payloads):
            by_len.setdefault(len(pl), []).append(i)
        parts = []
        for n_bytes, idx in by_len.items():
            k = self._frame_samples(n_bytes)
            if k is None:
                self._reject(len(idx), len(idx) * n_bytes)
                continue
            size = p.frame_size(k)
            rows = np.frombuffer(b"".join([bytes(payloads[i]) for i in idx]), dtype=np.uint8).reshape(len(idx), n_bytes)
            ok = np.ones(len(idx), dtype=bool)
            if n_bytes > size:  # zero padding only
                ok &= ~rows[:, size:].any(axis=1)
                rows = np.ascontiguousarray(rows[:, :size])
            ok &= self._constants_ok(rows)
            arr = rows.view(p.dtype(k)).reshape(len(idx))
            if not ok.all():
                self._reject(int((~ok).sum()), int((~ok).sum()) * n_bytes)
            parts.append(_Frames(np.asarray(idx, dtype=np.int64)[ok], arr[ok], k))
        return parts

    def _frames_stream(self, payloads: Sequence[bytes]) -> list[_Frames]:
        p = self.profile
        old = len(self._buf)
        buf = self._buf + b"".join([bytes(pl) for pl in payloads])
        ends = np.cumsum([len(pl) for pl in payloads]) + old  # end offset (exclusive) of each payload in buf
        size = p.frame_size()
        starts, pos = self._scan_stream(buf, size)
        self._buf = bytearray(buf[pos:])
        if not starts:
            return []
        data = np.frombuffer(bytes(buf), dtype=np.uint8)
        starts_np = np.asarray(starts, dtype=np.int64)
        is_data = (data[starts_np[:, None] + np.arange(len(p.sync))] == self._sync_np).all(axis=1)
        for s in starts_np[~is_data]:
            self._aux_frame(bytes(buf[s : s + size]))
        starts_np = starts_np[is_data]
        if not len(starts_np):
            return []
        rows = data[starts_np[:, None] + np.arange(size)]
        arr = rows.view(p.dtype()).reshape(len(starts_np))
        pkt = np.searchsorted(ends, starts_np + size - 1, side="right")  # the payload completing the frame
        ok = self._constants_ok(rows)
        if not ok.all():
            self._reject(int((~ok).sum()), int((~ok).sum()) * size)
        return [_Frames(pkt[ok], arr[ok], p.samples_per_packet)]

    def _scan_stream(self, buf: bytearray, size: int) -> tuple[list[int], int]:
        """Frame start offsets in `buf` and the offset of the first byte not consumed. Garbage between
        frames is skipped and counted (one bad packet per run, even across calls). Scanning a byte stream in
        pieces or joined gives the same frames and counts (all sync patterns have the same length)."""
        p = self.profile
        n_sync = len(p.sync)
        data = np.frombuffer(bytes(buf), dtype=np.uint8)
        hit = np.zeros(max(len(data) - n_sync + 1, 0), dtype=bool)
        for s in (p.sync, *p.skip_frames):
            m = np.ones(len(hit), dtype=bool)
            for j, byte in enumerate(s):
                m &= data[j : j + len(hit)] == byte
            hit |= m
        cand = np.flatnonzero(hit).tolist()  # offsets where a (data or skip) frame may start
        # next candidate at or after each candidate's frame end
        after = np.searchsorted(np.asarray(cand, dtype=np.int64), np.asarray(cand, dtype=np.int64) + size).tolist()
        n_buf, n_cand = len(buf), len(cand)
        starts: list[int] = []
        pos = 0
        i = 0  # index of the first candidate >= pos
        while n_buf - pos >= n_sync:
            if i < n_cand and cand[i] == pos:
                if n_buf - pos < size:
                    break
                starts.append(pos)
                self._skipping = False
                pos += size
                i = after[i]
                continue
            nxt = cand[i] if i < n_cand else max(pos + 1, n_buf - (n_sync - 1))
            self.stats.bytes_skipped += nxt - pos
            if not self._skipping:
                self.stats.bad_packets += 1
                self._skipping = True
            pos = nxt
        return starts, pos

    def _aux_frame(self, frame: bytes) -> None:
        self.stats.aux_frames += 1
        b = self.profile.battery
        if b.kind == "command" and frame.startswith(b.reply_prefix):
            dt = _np_type(b.type, self.profile.byte_order)
            if b.offset + dt.itemsize <= len(frame):
                raw = np.frombuffer(frame, dtype=dt, count=1, offset=b.offset)[0]
                self.battery = float(raw) * b.scale

    def _constants_ok(self, rows: np.ndarray) -> np.ndarray:
        """(m,) bool: which frames (m, ≥ frame size) uint8 carry the sync and fixed header values."""
        ok = np.ones(len(rows), dtype=bool)
        for offset, want in self._const_rows:
            ok &= (rows[:, offset : offset + len(want)] == want).all(axis=1)
        return ok

    def _constants_ok_one(self, payload: bytes) -> bool:
        """`_constants_ok` for one payload, as byte comparisons (the live path)."""
        return all(payload[offset : offset + len(want)] == want for offset, want in self._const_bytes)

    def _convert(self, parts: list[_Frames]) -> tuple[Samples, np.ndarray]:
        """Valid frames (grouped by samples per frame) -> Samples in packet order, and packet index (n,).
        Frames with absurd values are rejected here; counters and timestamps are unwrapped in order."""
        p = self.profile
        pk, acc, gyr, counts, seq_raw, time_raw = [], [], [], [], [], []
        for fr in parts:
            arr, k = fr.arr, fr.k
            n_frames = len(arr)
            if n_frames == 0:
                continue
            if p.sample_layout == "interleaved":
                a_raw, g_raw = arr["samples"][self._acc.name], arr["samples"][self._gyr.name]
            else:
                a_raw, g_raw = arr["p_" + self._acc.name], arr["p_" + self._gyr.name]
            with np.errstate(invalid="ignore", over="ignore"):
                a = a_raw.reshape(n_frames * k, 3).astype(np.float64) * self._acc.si_scale
                g = g_raw.reshape(n_frames * k, 3).astype(np.float64) * self._gyr.si_scale
                # float payloads: NaN, inf or physically absurd values mean garbage, not motion
                ok = (np.abs(a) <= MAX_ACC).all(axis=1) & (np.abs(g) <= MAX_GYR).all(axis=1)
            ok = ok.reshape(n_frames, k).all(axis=1)
            if not ok.all():
                self._reject(int((~ok).sum()), int((~ok).sum()) * arr.dtype.itemsize)
                keep = np.repeat(ok, k)
                arr, a, g = arr[ok], a[keep], g[keep]
                if len(arr) == 0:
                    continue
            pk.append(fr.packet[ok])
            acc.append(a)
            gyr.append(g)
            counts.append(np.full(len(arr), k, dtype=np.int64))
            if self._seq_field is not None:
                raw = arr["h_" + self._seq_field.name].astype(np.int64)
                seq_raw.append(raw * k if self._seq_field.counts == "packets" else raw)
            if self._time_field is not None:
                time_raw.append(arr["h_" + self._time_field.name].astype(np.int64))
        if not pk:
            return self._empty, np.zeros(0, np.int64)
        if len(pk) == 1:  # one frame length (the usual case): already in arrival order
            return self._finish(pk[0], counts[0], acc[0], gyr[0], seq_raw, time_raw, uniform=True)
        # several frame lengths: back to arrival order
        frame_pk, k_frame = np.concatenate(pk), np.concatenate(counts)
        order = np.argsort(frame_pk, kind="stable")
        first = np.cumsum(k_frame) - k_frame
        sample_order = np.repeat(first[order], k_frame[order]) + _ramp(k_frame[order])
        seq_raw = [np.concatenate(seq_raw)[order]] if seq_raw else []
        time_raw = [np.concatenate(time_raw)[order]] if time_raw else []
        return self._finish(frame_pk[order], k_frame[order], np.concatenate(acc)[sample_order],
                            np.concatenate(gyr)[sample_order], seq_raw, time_raw, uniform=False)

    def _finish(self, frame_pk: np.ndarray, k_frame: np.ndarray, acc: np.ndarray, gyr: np.ndarray,
                seq_raw: list[np.ndarray], time_raw: list[np.ndarray], *, uniform: bool
                ) -> tuple[Samples, np.ndarray]:
        """Frames in arrival order (packet index and samples per frame, (m,); `uniform`: all frames hold
        the same number of samples), their samples, and raw counters / timestamps (one array or none)
        -> unwrapped Samples and per-sample packet index."""
        p = self.profile
        n_frames, n = len(frame_pk), len(acc)
        k0 = int(k_frame[0])
        within = np.tile(np.arange(k0), n_frames) if uniform else _ramp(k_frame)  # sample index in its frame
        seq = tdev = None
        if self._seq_field is not None:
            f = self._seq_field
            modulus = 1 << (8 * _np_type(f.type, p.byte_order).itemsize)
            raw = seq_raw[0]
            if f.counts == "packets":  # raw holds counter * k, wrapping at modulus * k: unwrap runs of equal k
                cuts = np.flatnonzero(np.diff(k_frame)) + 1
                first = np.concatenate([self._unwrap_seq(r, modulus * int(kk[0]))
                                        for r, kk in zip(np.split(raw, cuts), np.split(k_frame, cuts), strict=True)])
            else:
                first = self._unwrap_seq(raw, modulus)
            seq = np.repeat(first, k_frame) + within
        if self._time_field is not None:
            f = self._time_field
            modulus = 1 << (8 * _np_type(f.type, p.byte_order).itemsize)
            ref = self._unwrap_time(time_raw[0], modulus) * f.si_scale
            offs = within / self.rate_hz
            if f.sample == "last":
                offs = offs - (np.repeat(k_frame, k_frame) - 1) / self.rate_hz
            tdev = np.repeat(ref, k_frame) + offs
        self.stats.frames += n_frames
        self.stats.samples += n
        return Samples(acc, gyr, seq, tdev), (frame_pk if k0 == 1 and uniform else np.repeat(frame_pk, k_frame))

    def _unwrap_seq(self, raw: np.ndarray, modulus: int) -> np.ndarray:
        out, self._seq_last, self._seq_unwrapped = _unwrap(raw, modulus, self._seq_last, self._seq_unwrapped)
        return out

    def _unwrap_time(self, raw: np.ndarray, modulus: int) -> np.ndarray:
        out, self._time_last, self._time_unwrapped = _unwrap(raw, modulus, self._time_last,
                                                             self._time_unwrapped)
        return out


def _unwrap(raw: np.ndarray, modulus: int, last_raw: int | None, last_out: int):
    """Unwrap a counter that wraps at `modulus`: steps are taken forward modulo `modulus`, except steps
    of more than half the range, which are read as going backwards (a device reset)."""
    raw = np.mod(raw, modulus)
    if last_raw is None:
        base_raw, base_out = int(raw[0]), int(raw[0])
    else:
        base_raw, base_out = last_raw, last_out
    steps = np.diff(np.concatenate([[base_raw], raw])) % modulus
    steps = np.where(steps > modulus // 2, steps - modulus, steps)
    out = base_out + np.cumsum(steps)
    return out, int(raw[-1]), int(out[-1])


@dataclass(frozen=True)
class _Frames:
    """Valid frames of one length: packet (m,) index of the payload each came from, arr (m,) structured
    frames, k samples per frame."""

    packet: np.ndarray
    arr: np.ndarray
    k: int


def _ramp(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated: (sum(counts),) int64."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


# ----------------------------------------------------------------------------------------------------------
# Loading and validation


def available() -> list[str]:
    """Names (file stems) of the profiles shipped in firmware_profiles/, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load(name_or_path: str | Path) -> Profile:
    """Load and validate a profile by name (file stem in firmware_profiles/) or by path to a .toml file."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix != ".toml" and "/" not in text and "\\" not in text:
        path = PROFILE_DIR / f"{text}.toml"
        if not path.is_file():
            raise InputError(
                f"profile {text!r}: no such profile (available: {', '.join(available())})"
            )
    path = path.resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(f"{name_or_path}: cannot read profile ({exc.strerror})") from None
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, _mtime_ns: int, _size: int) -> Profile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{_display(p)}: cannot read profile ({exc})") from None
    return loads(text, source=_display(p), stem=p.stem)


def loads(text: str, *, source: str = "<profile>", stem: str | None = None) -> Profile:
    """Parse and validate profile TOML text (e.g. the `profile_toml` stored in a recording header).
    `source` names the text in error messages; `stem`, if given, must equal the profile's `name`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc})") from None
    return _build(data, text, _Checker(source), stem)


def match(name: str | None, service_uuids: Sequence[str] = ()) -> Profile | None:
    """The shipped profile an advertisement belongs to, or None. A service-UUID match wins over a
    name-pattern match; ties go to the first name in `available()` order."""
    profiles = [load(n) for n in available()]
    adv = {u.lower() for u in service_uuids}
    for prof in profiles:
        if adv & set(prof.service_uuids):
            return prof
    for prof in profiles:
        if prof.matches(name, ()):
            return prof
    return None


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(PROFILE_DIR.parent))
    except ValueError:
        return str(path)


_TOP = ("schema", "name", "product", "notes", "discovery", "gatt", "rates", "commands", "packet", "axes",
        "battery")


def _build(data: dict, text: str, c: _Checker, stem: str | None) -> Profile:
    c.unknown(data, _TOP, "")
    schema = c.get(data, "schema", "schema", "int")
    if schema != SCHEMA_VERSION:
        raise c.fail("schema", f"expected {SCHEMA_VERSION}, got {schema!r}")
    name = c.get(data, "name", "name", "str")
    if stem is not None and name != stem:
        raise c.fail("name", f"expected the file stem {stem!r}, got {name!r}")
    product = c.get(data, "product", "product", "str")
    notes = c.get(data, "notes", "notes", "str", "")

    disc = c.table(data, "discovery", "discovery")
    c.unknown(disc, ("name_patterns", "service_uuids"), "discovery")
    patterns = c.get(disc, "name_patterns", "discovery.name_patterns", "list", [])
    for i, pat in enumerate(patterns):
        if not isinstance(pat, str) or not pat:
            raise c.fail(f"discovery.name_patterns[{i}]", f"expected a non-empty string, got {pat!r}")
    uuids = c.get(disc, "service_uuids", "discovery.service_uuids", "list", [])
    uuids = [c.uuid({"u": u}, "u", f"discovery.service_uuids[{i}]") for i, u in enumerate(uuids)]
    if not patterns and not uuids:
        raise c.fail("discovery", "expected at least one of name_patterns, service_uuids")

    gatt = c.table(data, "gatt", "gatt")
    c.unknown(gatt, ("service", "notify", "write", "write_with_response", "mtu"), "gatt")
    service = c.uuid(gatt, "service", "gatt.service")
    notify = c.uuid(gatt, "notify", "gatt.notify")
    write = c.uuid(gatt, "write", "gatt.write", "")
    wwr = c.get(gatt, "write_with_response", "gatt.write_with_response", "bool", False)
    mtu = c.get(gatt, "mtu", "gatt.mtu", "int", DEFAULT_MTU)
    if not 23 <= mtu <= 517:
        raise c.fail("gatt.mtu", f"expected an ATT MTU between 23 and 517, got {mtu}")

    rates = c.table(data, "rates", "rates")
    c.unknown(rates, ("nominal_hz", "supported_hz", "codes"), "rates")
    nominal = float(c.get(rates, "nominal_hz", "rates.nominal_hz", "number"))
    if nominal <= 0:
        raise c.fail("rates.nominal_hz", f"expected a positive rate in Hz, got {nominal:g}")
    supported = c.get(rates, "supported_hz", "rates.supported_hz", "list", [nominal])
    for i, r in enumerate(supported):
        if isinstance(r, bool) or not isinstance(r, (int, float)) or r <= 0:
            raise c.fail(f"rates.supported_hz[{i}]", f"expected a positive number, got {r!r}")
    supported = tuple(float(r) for r in supported)
    if nominal not in supported:
        raise c.fail("rates.nominal_hz", f"{nominal:g} Hz is not in rates.supported_hz")
    codes_t = c.table(rates, "codes", "rates.codes", required=False)
    codes: dict[float, str] = {}
    for key, val in codes_t.items():
        where = f"rates.codes.{key}"
        try:
            rate = float(key)
        except ValueError:
            raise c.fail(where, f"expected a rate in Hz as the key, got {key!r}") from None
        if rate not in supported:
            raise c.fail(where, f"{rate:g} Hz is not in rates.supported_hz")
        codes[rate] = c.hexbytes(val, where)

    cmds_t = c.table(data, "commands", "commands", required=False)
    c.unknown(cmds_t, _COMMAND_KINDS, "commands")
    commands: dict[str, tuple[StepSpec, ...]] = {}
    for kind in _COMMAND_KINDS:
        steps = c.get(cmds_t, kind, f"commands.{kind}", "list", [])
        built = []
        for i, st in enumerate(steps):
            where = f"commands.{kind}[{i}]"
            if not isinstance(st, dict):
                raise c.fail(where, f"expected a table like {{hex = 'FF AA', delay_s = 0.1}}, got {st!r}")
            c.unknown(st, ("hex", "delay_s", "char", "with_response"), where)
            hx = c.hexbytes(c.get(st, "hex", f"{where}.hex", "str"), f"{where}.hex", template=True)
            if hx == "":
                raise c.fail(f"{where}.hex", "expected at least one byte")
            if "{rate_code}" in hx and not codes:
                raise c.fail(f"{where}.hex", "uses {rate_code} but rates.codes is empty")
            delay = float(c.get(st, "delay_s", f"{where}.delay_s", "number", 0.0))
            if not 0 <= delay <= 10:
                raise c.fail(f"{where}.delay_s", f"expected 0..10 seconds, got {delay:g}")
            char = c.uuid(st, "char", f"{where}.char", write or "")
            if not char:
                raise c.fail(f"{where}.char", "missing, and gatt.write is not set")
            wr = c.get(st, "with_response", f"{where}.with_response", "bool", wwr)
            built.append(StepSpec(hx, char, delay, wr))
        commands[kind] = tuple(built)

    packet = c.table(data, "packet", "packet")
    p = _packet(packet, c)
    axes_t = c.table(data, "axes", "axes")
    c.unknown(axes_t, ("x", "y", "z", "note"), "axes")
    axes = {k: c.get(axes_t, k, f"axes.{k}", "str") for k in ("x", "y", "z")}
    axes["note"] = c.get(axes_t, "note", "axes.note", "str", "")
    battery = _battery(c.table(data, "battery", "battery", required=False), c, p["byte_order"])

    prof = Profile(
        name=name, source=c.source, raw_text=text, product=product, notes=notes,
        name_patterns=tuple(patterns), service_uuids=tuple(uuids), service=service, notify=notify,
        write=write, write_with_response=wwr, mtu=mtu, nominal_hz=nominal, supported_hz=supported,
        rate_codes=codes, _commands=commands, axes=axes, battery=battery, **p,
    )
    largest = max(prof.frame_size(prof.max_samples_per_packet), prof.pad_to)
    if largest > mtu - 3:
        raise c.fail("gatt.mtu", f"{mtu} too small for {largest}-byte notifications (need >= {largest + 3})")
    prof.dtype()  # compile now: layout errors surface at load time
    return prof


def _field(f: Any, where: str, c: _Checker, *, header: bool) -> FieldSpec:
    if not isinstance(f, dict):
        raise c.fail(where, f"expected a table like {{name = 'acc', type = 'i16', count = 3}}, got {f!r}")
    c.unknown(f, ("name", "type", "count", "scale", "unit", "value", "counts", "sample"), where)
    name = c.get(f, "name", f"{where}.name", "str")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise c.fail(f"{where}.name", f"expected an identifier, got {name!r}")
    typ = c.choice(f, "type", f"{where}.type", tuple(_TYPES))
    count = c.get(f, "count", f"{where}.count", "int", 1)
    if not 1 <= count <= 64:
        raise c.fail(f"{where}.count", f"expected 1..64, got {count}")
    scale = float(c.get(f, "scale", f"{where}.scale", "number", 1.0))
    if scale <= 0:
        raise c.fail(f"{where}.scale", f"expected a positive number, got {scale:g}")
    value = c.get(f, "value", f"{where}.value", "int", None)
    kind = name if name in ("acc", "gyr", "seq", "time") else "other"
    counts, sample, si = "samples", "first", scale
    if header and kind in ("acc", "gyr"):
        raise c.fail(f"{where}.name", f"{name!r} belongs in packet.sample_fields")
    if not header and kind in ("seq", "time"):
        raise c.fail(f"{where}.name", f"{name!r} belongs in packet.header_fields")
    if kind in ("acc", "gyr"):
        if count != 3:
            raise c.fail(f"{where}.count", f"{name} needs 3 axes, got {count}")
        units = _ACC_UNITS if kind == "acc" else _GYR_UNITS
        unit = c.choice(f, "unit", f"{where}.unit", tuple(units))
        si = scale * units[unit]
    elif kind in ("seq", "time"):
        if typ not in ("u8", "u16", "u32") or count != 1:
            raise c.fail(f"{where}.type", f"{name} must be one unsigned integer (u8, u16, u32), got {typ}")
        if kind == "seq":
            counts = c.choice(f, "counts", f"{where}.counts", ("samples", "packets"), "samples")
        else:
            unit = c.choice(f, "unit", f"{where}.unit", tuple(_TIME_UNITS))
            si = scale * _TIME_UNITS[unit]
            sample = c.choice(f, "sample", f"{where}.sample", ("first", "last"), "first")
    else:
        for key in ("unit", "counts", "sample"):
            if key in f:
                raise c.fail(f"{where}.{key}", f"only used by acc, gyr, seq or time fields, not {name!r}")
    if value is not None and kind != "other":
        raise c.fail(f"{where}.value", f"a constant value makes no sense for {name!r}")
    if value is not None:
        if typ.startswith("f"):
            raise c.fail(f"{where}.value", "constants must have an integer type")
        info = np.iinfo(_np_type(typ, "little"))
        if not info.min <= value <= info.max:
            raise c.fail(f"{where}.value", f"{value} does not fit in {typ}")
    return FieldSpec(name, typ, count, si, value, counts, sample)


def _packet(t: dict, c: _Checker) -> dict:
    allowed = ("byte_order", "framing", "sync", "skip_frames", "samples_per_packet", "max_samples_per_packet",
               "sample_layout", "pad_to", "header_fields", "sample_fields")
    c.unknown(t, allowed, "packet")
    byte_order = c.choice(t, "byte_order", "packet.byte_order", ("little", "big"))
    framing = c.choice(t, "framing", "packet.framing", ("notification", "stream"))
    sync = _hex_to_bytes(c.hexbytes(c.get(t, "sync", "packet.sync", "str", ""), "packet.sync"))
    skip = c.get(t, "skip_frames", "packet.skip_frames", "list", [])
    skip = tuple(_hex_to_bytes(c.hexbytes(s, f"packet.skip_frames[{i}]")) for i, s in enumerate(skip))
    spp = c.get(t, "samples_per_packet", "packet.samples_per_packet", "int")
    if not 1 <= spp <= 255:
        raise c.fail("packet.samples_per_packet", f"expected 1..255, got {spp}")
    mspp = c.get(t, "max_samples_per_packet", "packet.max_samples_per_packet", "int", spp)
    if not spp <= mspp <= 255:
        raise c.fail("packet.max_samples_per_packet", f"expected {spp}..255, got {mspp}")
    layout = c.choice(t, "sample_layout", "packet.sample_layout", ("interleaved", "planar"), "interleaved")
    pad_to = c.get(t, "pad_to", "packet.pad_to", "int", 0)
    if framing == "stream":
        if not sync:
            raise c.fail("packet.sync", "stream framing needs sync bytes to find frames")
        if mspp != spp:
            raise c.fail("packet.max_samples_per_packet", "stream framing needs fixed-size frames")
        if pad_to:
            raise c.fail("packet.pad_to", "not used with stream framing")
        for i, s in enumerate(skip):
            if len(s) != len(sync):
                raise c.fail(f"packet.skip_frames[{i}]", f"expected {len(sync)} bytes like packet.sync")
    elif skip:
        raise c.fail("packet.skip_frames", "only used with stream framing")
    if pad_to and mspp != spp:
        raise c.fail("packet.pad_to", "cannot pad variable-length packets")
    hf = c.get(t, "header_fields", "packet.header_fields", "list", [])
    sf = c.get(t, "sample_fields", "packet.sample_fields", "list")
    header = tuple(_field(f, f"packet.header_fields[{i}]", c, header=True) for i, f in enumerate(hf))
    sample = tuple(_field(f, f"packet.sample_fields[{i}]", c, header=False) for i, f in enumerate(sf))
    for where, fields in (("packet.header_fields", header), ("packet.sample_fields", sample)):
        seen: set[str] = set()
        for i, f in enumerate(fields):
            if f.name in seen:
                raise c.fail(f"{where}[{i}].name", f"duplicate field name {f.name!r}")
            seen.add(f.name)
    for kind in ("acc", "gyr"):
        if not any(f.kind == kind for f in sample):
            raise c.fail("packet.sample_fields", f"expected a field named {kind!r}")
    size = len(sync) + sum(_np_type(f.type, byte_order).itemsize * f.count for f in header) + spp * sum(
        _np_type(f.type, byte_order).itemsize * f.count for f in sample)
    if pad_to and pad_to < size:
        raise c.fail("packet.pad_to", f"{pad_to} is shorter than the {size}-byte frame")
    return dict(byte_order=byte_order, framing=framing, sync=sync, skip_frames=skip, samples_per_packet=spp,
                max_samples_per_packet=mspp, sample_layout=layout, pad_to=pad_to, header_fields=header,
                sample_fields=sample)


def _battery(t: dict, c: _Checker, byte_order: str) -> Battery:
    if not t:
        return Battery()
    kind = c.choice(t, "kind", "battery.kind", ("gatt", "command", "none"))
    allowed = {"gatt": ("kind", "service", "char", "type", "scale", "unit"),
               "command": ("kind", "command", "reply_prefix", "offset", "type", "scale", "unit"),
               "none": ("kind",)}[kind]
    c.unknown(t, allowed, "battery")
    if kind == "none":
        return Battery()
    typ = c.choice(t, "type", "battery.type", tuple(_TYPES))
    scale = float(c.get(t, "scale", "battery.scale", "number", 1.0))
    unit = c.choice(t, "unit", "battery.unit", ("%", "V", "mV"))
    if kind == "gatt":
        return Battery(kind, service=c.uuid(t, "service", "battery.service"),
                       char=c.uuid(t, "char", "battery.char"), type=typ, scale=scale, unit=unit)
    cmd = _hex_to_bytes(c.hexbytes(c.get(t, "command", "battery.command", "str"), "battery.command"))
    prefix = _hex_to_bytes(c.hexbytes(c.get(t, "reply_prefix", "battery.reply_prefix", "str"),
                                      "battery.reply_prefix"))
    offset = c.get(t, "offset", "battery.offset", "int")
    if offset < len(prefix):
        raise c.fail("battery.offset", f"expected >= {len(prefix)} (after reply_prefix), got {offset}")
    return Battery(kind, command=cmd, reply_prefix=prefix, offset=offset, type=typ, scale=scale, unit=unit)
