"""Recording files (docs/ARCHITECTURE.md §4): writer, crash safety, tolerant reader, errors.

Ground truth comes from a deterministic packet generator, never from the reader under test; crash
safety is checked on a real subprocess killed with SIGKILL.
"""

from __future__ import annotations

import errno
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hinge.sensing import recording as recording_mod
from hinge.sensing.errors import InputError
from hinge.sensing.recording import Event, Recorder, SensorInfo, read_recording
from hinge.sensing.types import RawPacket

ROOT = Path(__file__).resolve().parents[1]
SENSORS = {
    "sacrum": SensorInfo("witmotion-bwt901", 'name = "WitMotion"\nrate_hz = 100\n', "AA:BB", "WT901", "1.0"),
    "thoracic": {"profile": "thingy52", "profile_toml": "[gatt]\nx = 1\n", "address": "CC:DD"},
}


class StepClock:
    """Injectable monotonic clock for the recorder; tests move it by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_packets(n: int, seed: int = 0) -> list[RawPacket]:
    """n packets alternating sensors, 20- or 102-byte random payloads, µs-quantised irregular times."""
    rng = np.random.default_rng(seed)
    t = np.round(np.cumsum(rng.uniform(0.0005, 0.006, n)) + 0.25, 6)
    sizes = rng.choice([0, 1, 20, 102], n, p=[0.02, 0.03, 0.75, 0.20])
    return [RawPacket(float(t[k]), ("sacrum", "thoracic")[k % 2], rng.bytes(int(sizes[k]))) for k in range(n)]


def write(path: Path, packets: list[RawPacket], events: dict[int, Event] | None = None, **kw) -> None:
    events = events or {}
    with Recorder(path, sensors=SENSORS, exercise="deadlift", label="set 1", app_version="9.9", **kw) as rec:
        for k, pkt in enumerate(packets):
            if k in events:
                e = events[k]
                rec.write_event(e.t_host, e.event, e.sensor, e.value)
            rec.write_packet(pkt)


def body_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[1:-1]


# -- round trip ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_round_trip_payloads_times_events_and_header(tmp_path: Path, name: str) -> None:
    pkts = make_packets(3000, seed=1)
    events = {
        0: Event(0.1, "connected", "sacrum", None),
        1: Event(0.11, "connected", "thoracic", None),
        500: Event(pkts[500].t_host, "battery", "thoracic", 87),
        1200: Event(pkts[1200].t_host, "marker", None, "rep 1 — top"),
        2999: Event(pkts[2999].t_host, "disconnected", "sacrum", {"reason": "timeout"}),
    }
    path = tmp_path / name
    write(path, pkts, events)
    rec = read_recording(path)
    items = list(rec)
    expected: list[object] = []
    for k, p in enumerate(pkts):
        if k in events:
            expected.append(events[k])
        expected.append(p)
    assert items == expected  # payload bytes identical, times identical to the µs
    assert rec.stats.packets == 3000 and rec.stats.events == 5
    assert rec.stats.bad_lines == 0 and not rec.stats.truncated_tail
    h = rec.header
    assert (h["format"], h["version"], h["exercise"], h["label"], h["app_version"]) == (
        "hinge-recording",
        1,
        "deadlift",
        "set 1",
        "9.9",
    )
    assert h["started_at"].endswith("Z") and h["started_at"][:2] == "20"
    assert h["sensors"]["sacrum"] == {
        "profile": "witmotion-bwt901",
        "profile_toml": 'name = "WitMotion"\nrate_hz = 100\n',
        "address": "AA:BB",
        "name": "WT901",
        "firmware": "1.0",
    }
    assert h["sensors"]["thoracic"]["firmware"] == ""
    assert list(rec.packets()) == pkts  # reading again reads the file again


def test_times_are_rounded_to_microseconds(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(0, 3600, 500))
    pkts = [RawPacket(float(x), "sacrum", b"\x55\x61") for x in t]
    write(tmp_path / "r.jsonl", pkts)
    got = np.array([p.t_host for p in read_recording(tmp_path / "r.jsonl").packets()])
    assert np.max(np.abs(got - t)) <= 0.5e-6 + 1e-9
    assert np.array_equal(got, np.round(t, 6))


def test_file_lines_follow_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with Recorder(path, sensors=SENSORS, app_version="1") as rec:
        rec.write_packet(RawPacket(1.5, "sacrum", bytes([0x55, 0x61, 0xAB])))
        rec.write_event(2.0, "battery", "thoracic", 55)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[1] == {"t": 1.5, "sensor": "sacrum", "hex": "5561ab"}
    assert lines[2] == {"t": 2.0, "event": "battery", "sensor": "thoracic", "value": 55}
    assert path.read_text().splitlines()[1].startswith('{"t": 1.500000,')


def test_lines_in_any_json_formatting_are_read(tmp_path: Path) -> None:
    """Lines not byte-identical to the recorder's own (other tools, hand edits) parse as JSON."""
    path = tmp_path / "r.jsonl"
    write(path, [])
    extra = [
        b'{"sensor":"sacrum","hex":"AB01","t":1}',
        b'{ "t" : 2.5e0 , "sensor" : "thoracic" , "hex" : "" }',
        b'{"t": 3.25, "sensor": "sacrum", "hex": "00ff"}\r',
        b'{"event":"marker","t":4,"value":[1,2]}',
    ]
    path.write_bytes(path.read_bytes() + b"\n".join(extra) + b"\n")
    rec = read_recording(path)
    assert list(rec) == [
        RawPacket(1.0, "sacrum", b"\xab\x01"),
        RawPacket(2.5, "thoracic", b""),
        RawPacket(3.25, "sacrum", b"\x00\xff"),
        Event(4.0, "marker", None, [1, 2]),
    ]
    assert rec.stats.bad_lines == 0


def test_gz_file_is_plain_gzip_of_the_same_text(tmp_path: Path) -> None:
    pkts = make_packets(2000, seed=3)
    kw = {"started_at": "2024-01-01T00:00:00.000Z"}
    write(tmp_path / "a.jsonl", pkts, **kw)
    clock = StepClock()
    with Recorder(
        tmp_path / "a.jsonl.gz",
        sensors=SENSORS,
        exercise="deadlift",
        label="set 1",
        app_version="9.9",
        clock=clock,
        **kw,
    ) as rec:
        for p in pkts:  # many sync flushes inside one member
            clock.t = p.t_host
            rec.write_packet(p)
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()) == (tmp_path / "a.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl.gz").stat().st_size < 0.7 * (tmp_path / "a.jsonl").stat().st_size


def test_concatenated_gzip_members_are_read(tmp_path: Path) -> None:
    pkts = make_packets(100, seed=4)
    write(tmp_path / "a.jsonl", pkts)
    raw = (tmp_path / "a.jsonl").read_bytes()
    cut = raw.index(b"\n", len(raw) // 2) + 1
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]))
    assert list(read_recording(tmp_path / "b.jsonl.gz").packets()) == pkts


# -- flushing and crash safety ------------------------------------------------------------------


def test_flushes_at_least_every_half_second_on_the_injected_clock(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    clock = StepClock(100.0)
    pkts = make_packets(400, seed=5)
    rec = Recorder(path, sensors=SENSORS, clock=clock, fsync_interval_s=None)
    t0 = pkts[0].t_host
    for k, p in enumerate(pkts):
        clock.t = 100.0 + p.t_host - t0
        rec.write_packet(p)
        on_disk = list(read_recording(path).packets())
        assert on_disk == pkts[: len(on_disk)]  # whole lines, in order
        older = [q for q in pkts[: k + 1] if clock.t - (100.0 + q.t_host - t0) >= 0.5]
        assert len(on_disk) >= len(older)
        assert rec.lines_flushed == len(on_disk)
    # idle: tick() flushes what is pending once the interval has passed
    n_before = len(list(read_recording(path).packets()))
    assert n_before < 400
    clock.t += 0.2
    rec.tick()
    assert len(list(read_recording(path).packets())) == n_before
    clock.t += 0.5
    rec.tick()
    assert len(list(read_recording(path).packets())) == 400
    rec.close()


PAYLOAD_SRC = """
def payload(k):
    return bytes([0x55, 0x61]) + ((k * 2654435761) % 2**32).to_bytes(4, "little") * 4 + bytes([k % 256] * 2)
"""
exec(PAYLOAD_SRC)  # the same generator in the child and here: defines payload(k)

CHILD = (
    PAYLOAD_SRC
    + r"""
import sys
from hinge.sensing.recording import Recorder
from hinge.sensing.types import RawPacket

class Clock:
    t = 0.0
    def __call__(self):
        return self.t

clock = Clock()
info = {"profile": "p", "profile_toml": "x = 1"}
sensors = {"sacrum": info, "thoracic": info}
rec = Recorder(sys.argv[1], sensors=sensors, clock=clock, fsync_interval_s=None)
flushed = 0
k = 0
while True:
    clock.t = k * 0.005
    rec.write_packet(RawPacket(round(k * 0.005, 6), ("sacrum", "thoracic")[k % 2], payload(k)))
    k += 1
    if rec.lines_flushed != flushed:
        flushed = rec.lines_flushed
        for _ in range(37):  # leave a few packets in memory, unflushed
            clock.t = k * 0.005
            rec.write_packet(RawPacket(round(k * 0.005, 6), ("sacrum", "thoracic")[k % 2], payload(k)))
            k += 1
        print(flushed, k, flush=True)
        sys.stdin.readline()
"""
)


@pytest.mark.parametrize("name", ["crash.jsonl", "crash.jsonl.gz"])
def test_sigkill_mid_stream_keeps_everything_flushed(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        text=True,
    )
    try:
        for _ in range(12):  # 12 time-based flushes of ~100 packets
            line = proc.stdout.readline()
            assert line, "child died"
            flushed, written = map(int, line.split())
            proc.stdin.write("\n")
            proc.stdin.flush()
        line = proc.stdout.readline()
        flushed, written = map(int, line.split())
        os.kill(proc.pid, signal.SIGKILL)  # child is holding `written - flushed` unflushed packets
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert flushed > 1000 and written > flushed
    rec = read_recording(path)
    pkts = list(rec.packets())
    assert len(pkts) == flushed
    assert pkts == [
        RawPacket(round(k * 0.005, 6), ("sacrum", "thoracic")[k % 2], payload(k))  # noqa: F821 (defined by exec)
        for k in range(flushed)
    ]
    assert rec.stats.bad_lines == 0
    assert rec.stats.truncated_tail == name.endswith(".gz")  # gz: the trailer is missing


# -- damaged files -------------------------------------------------------------------------------


def test_truncated_last_line_is_ignored_with_a_warning(tmp_path: Path, caplog) -> None:
    pkts = make_packets(50, seed=6)
    path = tmp_path / "r.jsonl"
    write(path, pkts)
    raw = path.read_bytes()
    last_start = raw.rindex(b"\n", 0, len(raw) - 1) + 1
    for cut in range(last_start + 1, len(raw) - 1):  # every cut inside the last line
        path.write_bytes(raw[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hinge.sensing.recording"):
            rec = read_recording(path)
            got = list(rec.packets())
        assert got == pkts[:-1], cut
        assert rec.stats.truncated_tail and rec.stats.bad_lines == 0
        assert "cut short" in caplog.text
    # only the newline lost: the line is complete JSON and is kept
    path.write_bytes(raw[:-1])
    rec = read_recording(path)
    assert list(rec.packets()) == pkts and not rec.stats.truncated_tail
    # zero-filled tail after a power loss
    path.write_bytes(raw[:-10] + b"\0" * 4096)
    rec = read_recording(path)
    assert list(rec.packets()) == pkts[:-1] and rec.stats.truncated_tail


def test_truncated_gz_yields_the_intact_prefix(tmp_path: Path) -> None:
    pkts = make_packets(3000, seed=7)
    path = tmp_path / "r.jsonl.gz"
    write(path, pkts)
    raw = path.read_bytes()
    for frac in (0.3, 0.6, 0.95):
        path.write_bytes(raw[: int(len(raw) * frac)])
        rec = read_recording(path)
        got = list(rec.packets())
        assert 0 < len(got) < len(pkts)
        assert got == pkts[: len(got)]
        assert rec.stats.truncated_tail and rec.stats.bad_lines == 0


def test_corrupted_middle_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    pkts = make_packets(200, seed=8)
    path = tmp_path / "r.jsonl"
    write(path, pkts)
    header, *lines = path.read_bytes().split(b"\n")
    lines = lines[:-1]
    bad = {
        10: lines[10].replace(b'"hex"', b'#hex"'),  # bit flip 0x22 -> 0x23
        20: lines[20][:-1] + b"5}",  # odd-length hex
        30: lines[30].replace(b'"hex": "', b'"hex": "zz'),  # not hex
        40: lines[40].replace(b"sacrum", b"sacrun").replace(b"thoracic", b"thoracid"),  # unknown sensor
        50: lines[50].replace(b'{"t": ', b'{"t": "', 1).replace(b", ", b'", ', 1),  # t as a string
        60: b"\xff\xfe garbage",
        70: b"[1, 2, 3]",
        80: lines[80][:25],  # cut line, next line intact
    }
    # a line cut and glued to the next one: both are lost as one bad line
    glued = lines[90][:30] + lines[91]
    new = [bad.get(i, ln) for i, ln in enumerate(lines)]
    new[90:92] = [glued]
    path.write_bytes(b"\n".join([header, *new]) + b"\n")
    rec = read_recording(path)
    got = list(rec.packets())
    lost = set(bad) | {90, 91}
    assert got == [p for k, p in enumerate(pkts) if k not in lost]
    assert rec.stats.bad_lines == len(bad) + 1
    assert not rec.stats.truncated_tail


@pytest.mark.parametrize("seed", range(20))
def test_random_bit_flips_only_touch_their_own_lines(tmp_path: Path, seed: int) -> None:
    pkts = make_packets(60, seed=100 + seed)
    path = tmp_path / "r.jsonl"
    write(path, pkts)
    raw = bytearray(path.read_bytes())
    rec0 = read_recording(path)
    offsets = [off for off, _ in rec0.iter_from(rec0.body_offset)]
    rng = np.random.default_rng(seed)
    flipped = set(rng.choice(len(pkts), 6, replace=False).tolist())
    for k in flipped:
        end = raw.index(b"\n", offsets[k])
        pos = int(rng.integers(offsets[k], end))  # never the newline itself
        raw[pos] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(raw))
    rec = read_recording(path)
    got = dict(rec.iter_from(rec.body_offset, rec.stats))
    for k, off in enumerate(offsets):
        if k not in flipped:
            assert got[off] == pkts[k]
    assert len(got) + rec.stats.bad_lines == len(pkts)  # each flipped line: skipped, or still one item


# -- errors --------------------------------------------------------------------------------------


def _assert_one_line_naming(exc: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg, msg
    for w in words:
        assert w in msg, msg


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(InputError) as exc:
        read_recording(path)
    _assert_one_line_naming(exc, path, "empty", "hinge-recording")


@pytest.mark.parametrize(
    "content, words",
    [
        (b"sensor,t,ax,ay,az,gx,gy,gz\nsacrum,0.0,1,2,3,4,5,6\n", ["not a hinge recording"]),
        (b'{"format": "other", "version": 1}\n', ["not a hinge recording"]),
        (b'{"format": "hinge-recording", "version": 2, "sensors": {}}\n', ["version 2", "newer", "1"]),
        (b'{"format": "hinge-recording", "version": "1", "sensors": {}}\n', ["unknown recording version"]),
        (b'{"format": "hinge-recording", "version": 1, "sensors": []}\n', ["sensors"]),
        (b'{"format": "hinge-rec', ["not a hinge recording", "cut short"]),
        (bytes(range(256)) * 10, ["not a hinge recording"]),
        (b"\n\n\n", ["empty"]),
    ],
)
def test_not_a_recording(tmp_path: Path, content: bytes, words: list[str]) -> None:
    for path, data in ((tmp_path / "x.jsonl", content), (tmp_path / "x.jsonl.gz", gzip.compress(content))):
        path.write_bytes(data)
        with pytest.raises(InputError) as exc:
            read_recording(path)
        _assert_one_line_naming(exc, path, *words)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        read_recording(tmp_path / "nope.jsonl")
    _assert_one_line_naming(exc, tmp_path / "nope.jsonl", "no such file")
    with pytest.raises(InputError) as exc:
        read_recording(tmp_path)
    _assert_one_line_naming(exc, tmp_path, "directory")


def test_unwritable_paths_fail_at_open(tmp_path: Path) -> None:
    cases = [
        (tmp_path / "no" / "such" / "dir.jsonl", {}, "does not exist"),
        (tmp_path, {}, "directory"),
        (tmp_path / "r.jsonl", {"min_free_bytes": 1 << 62}, "disk full"),
    ]
    for path, kw, words in cases:
        with pytest.raises(InputError) as exc:
            Recorder(path, sensors=SENSORS, **kw)
        _assert_one_line_naming(exc, path, "cannot record", words)
    assert not (tmp_path / "r.jsonl").exists()  # nothing left behind
    if Path("/dev/full").exists():  # the kernel's always-full device: ENOSPC on write
        with pytest.raises(InputError) as exc:
            Recorder("/dev/full", sensors=SENSORS, overwrite=True)
        _assert_one_line_naming(exc, Path("/dev/full"), "cannot record", "space")


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write(path, make_packets(5))
    before = path.read_bytes()
    with pytest.raises(InputError) as exc:
        Recorder(path, sensors=SENSORS)
    _assert_one_line_naming(exc, path, "exists")
    assert path.read_bytes() == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        with pytest.raises(InputError) as exc:
            Recorder(d / "r.jsonl", sensors=SENSORS)
        _assert_one_line_naming(exc, d / "r.jsonl", "cannot record")
    finally:
        d.chmod(0o755)


def test_short_writes_and_disk_full_mid_stream_never_duplicate_or_split_lines(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    pkts = make_packets(500, seed=9)
    rec = Recorder(path, sensors=SENSORS, clock=StepClock(), fsync_interval_s=None)
    real_write = os.write
    state = {"fail_next": False, "full": False}

    def flaky_write(fd, data):
        if fd != rec._fd:
            return real_write(fd, data)
        if state["full"]:  # POSIX: an error only when nothing was written
            state["full"] = False
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if state["fail_next"]:
            state["fail_next"] = False
            state["full"] = True
            return real_write(fd, bytes(data[:11]))  # part of a line reaches the disk, then it is full
        return real_write(fd, bytes(data[:7]))  # the OS accepts only 7 bytes per call

    monkeypatch.setattr(recording_mod.os, "write", flaky_write)
    for p in pkts[:250]:
        rec.write_packet(p)
    state["fail_next"] = True
    with pytest.raises(InputError) as exc:
        rec.flush()
    _assert_one_line_naming(exc, path, "No space left")
    for p in pkts[250:]:
        rec.write_packet(p)
    rec.close()
    monkeypatch.undo()
    got = read_recording(path)
    assert list(got.packets()) == pkts and got.stats.bad_lines == 0


def test_close_is_idempotent_and_writes_after_close_fail(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.jsonl", sensors=SENSORS)
    rec.write_packet(RawPacket(0.0, "sacrum", b"\x01"))
    rec.close()
    rec.close()
    assert rec.closed
    with pytest.raises(ValueError, match="closed"):
        rec.write_packet(RawPacket(0.1, "sacrum", b"\x01"))
    with pytest.raises(ValueError, match="closed"):
        rec.write_event(0.1, "marker")
    rec.flush()
    rec.tick()


def test_context_manager_flushes_on_exception(tmp_path: Path) -> None:
    pkts = make_packets(30)
    with pytest.raises(KeyboardInterrupt):
        with Recorder(tmp_path / "r.jsonl.gz", sensors=SENSORS) as rec:
            for p in pkts:
                rec.write_packet(p)
            raise KeyboardInterrupt
    got = read_recording(tmp_path / "r.jsonl.gz")
    assert list(got.packets()) == pkts and not got.stats.truncated_tail


def test_programming_errors_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="exercise"):
        Recorder(tmp_path / "a.jsonl", sensors=SENSORS, exercise="squat")
    with pytest.raises(ValueError, match="unknown header fields"):
        Recorder(tmp_path / "b.jsonl", sensors={"sacrum": {"profile": "p", "colour": "red"}})
    with Recorder(tmp_path / "c.jsonl", sensors=SENSORS) as rec:
        with pytest.raises(ValueError, match="not in the header"):
            rec.write_packet(RawPacket(0.0, "neck", b""))
        with pytest.raises(ValueError, match="not finite"):
            rec.write_packet(RawPacket(float("nan"), "sacrum", b""))
        with pytest.raises(ValueError, match="event"):
            rec.write_event(0.0, "exploded")
