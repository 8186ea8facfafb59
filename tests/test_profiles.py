"""Firmware profiles: loading/validation, worked example packets, encode/decode round trips, framing, fuzz.

Expected values come from the byte layouts and scales in shared/research/sensor-protocols.md and
firmware_profiles/README.md, packed here with `struct` (independently of the numpy codec).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hinge.sensing import profiles
from hinge.sensing.errors import InputError

G0 = 9.80665
D2R = math.pi / 180
ALL = ["hinge-ref", "movella-dot", "movesense", "nordic-thingy52", "witmotion-bwt901ble"]


def test_available_lists_shipped_profiles_and_all_load():
    assert profiles.available() == ALL
    for name in ALL:
        p = profiles.load(name)
        assert p.name == name
        assert "[packet]" in p.raw_text
        assert p.nominal_hz in p.supported_hz
        assert p.frame_size(p.max_samples_per_packet) + 3 <= p.mtu
        # the stored text alone rebuilds the same codec (recordings carry it)
        q = profiles.loads(p.raw_text, source="recording header")
        assert q.dtype() == p.dtype()


def test_load_by_path_equals_load_by_name():
    p = profiles.load(profiles.PROFILE_DIR / "movesense.toml")
    assert p.dtype() == profiles.load("movesense").dtype()


def test_unknown_profile_name_lists_available():
    with pytest.raises(InputError, match="no such profile.*witmotion-bwt901ble"):
        profiles.load("nope")


# ---------------------------------------------------------------------------------------------- examples


def test_thingy_issue_example_at_rest():
    # Thingy.js issue: values shown with the wrong /64 scale were {0.2656, 16.0156, -0.2813};
    # raw = value*64 = (17, 1025, -18) -> Q6.10 -> (0.0166, 1.0010, -0.0176) g.
    payload = struct.pack("<9h", 17, 1025, -18, 32, -64, 0, 100, 200, 300)
    s = profiles.load("nordic-thingy52").decode(payload)
    np.testing.assert_allclose(s.acc[0] / G0, [0.0166, 1.0010, -0.0176], atol=1e-4)
    np.testing.assert_allclose(s.gyr[0] / D2R, [1.0, -2.0, 0.0], atol=1e-12)  # Q11.5: /32
    assert s.seq is None and s.device_time_s is None


def test_thingy_set_rate_matches_derived_example():
    cmds = profiles.load("nordic-thingy52").commands("set_rate", 100)
    assert [c.data.hex(" ").upper() for c in cmds] == ["E8 03 F4 01 F4 01 64 00 01"]
    assert cmds[0].char_uuid == "ef680401-9b35-4933-9b10-52ffa9740042"


def test_witmotion_frame_by_datasheet_formula():
    # ax = 2048/32768*16 = 1 g, ay = -1 g, az = 0.5 g; gx = 1024/32768*2000 = 62.5 deg/s, gz = -62.5
    frame = bytes.fromhex("5561") + struct.pack("<9h", 2048, -2048, 1024, 1024, 0, -1024, 0, 0, 0)
    s = profiles.load("witmotion-bwt901ble").decode(frame)
    np.testing.assert_allclose(s.acc, [[G0, -G0, G0 / 2]])
    np.testing.assert_allclose(s.gyr, [[62.5 * D2R, 0, -62.5 * D2R]])


def test_witmotion_register_replies_are_consumed_and_battery_read():
    p = profiles.load("witmotion-bwt901ble")
    dec = p.decoder()
    mag_reply = bytes.fromhex("5571 3A00 6801 6900 7A00") + bytes(10)  # datasheet 0x71 example
    battery = bytes.fromhex("5571 6400 9A01") + bytes(14)  # 0x019A = 410 -> 4.10 V
    data = bytes.fromhex("5561") + struct.pack("<9h", 0, 0, 2048, 0, 0, 0, 0, 0, 0)
    s = dec.feed(mag_reply + data + battery)
    assert len(s) == 1 and s.acc[0, 2] == pytest.approx(G0)
    assert dec.battery == pytest.approx(4.10)
    assert dec.stats.aux_frames == 2 and dec.stats.bad_packets == 0
    assert [c.data.hex(" ") for c in p.commands("set_rate", 50)] == ["ff aa 69 88 b5", "ff aa 03 08 00",
                                                                     "ff aa 00 00 00"]
    assert p.battery.command == bytes.fromhex("FFAA276400")


def test_movella_dot_rate_quantities_padded():
    acc, gyr = (0.5, -9.81, 1.25), (10.0, -20.0, 360.0)
    payload = struct.pack("<I6f", 123_456_789, *acc, *gyr) + bytes(12)  # 28 B + zero padding to 40
    p = profiles.load("movella-dot")
    s = p.decode(payload)
    np.testing.assert_allclose(s.acc[0], acc, rtol=1e-6)
    np.testing.assert_allclose(s.gyr[0], np.array(gyr) * D2R, rtol=1e-6)
    assert s.device_time_s[0] == pytest.approx(123.456789)
    assert p.decode(payload[:28]).acc.shape == (1, 3)  # unpadded also accepted
    assert [c.data.hex(" ") for c in p.commands("start")] == ["01 01 15"]
    assert [c.data.hex(" ") for c in p.commands("stop")] == ["01 00 15"]
    rate = p.commands("set_rate", 60)[0]
    assert len(rate.data) == 32 and rate.data[0] == 0x10 and rate.data[24:26] == b"\x3c\x00"
    assert rate.char_uuid.startswith("15171002")


def test_movesense_imu6_planar_arrays():
    n = 3
    acc = np.arange(n * 3, dtype=float).reshape(n, 3) + 0.5
    gyr = -np.arange(n * 3, dtype=float).reshape(n, 3) * 10
    payload = struct.pack("<BBI", 2, 0x63, 5000) + struct.pack(f"<{n * 3}f", *acc.ravel()) + struct.pack(
        f"<{n * 3}f", *gyr.ravel())
    p = profiles.load("movesense")
    s = p.decoder(rate_hz=104).feed(payload)
    np.testing.assert_allclose(s.acc, acc, rtol=1e-6)
    np.testing.assert_allclose(s.gyr, gyr * D2R, rtol=1e-6)
    np.testing.assert_allclose(s.device_time_s, 5.0 + np.arange(n) / 104)
    assert p.commands("start", 104)[0].data == b"\x01\x63/Meas/IMU6/104"
    assert p.commands("stop")[0].data == b"\x02\x63"
    with pytest.raises(InputError, match="rate 100 Hz not supported"):
        p.commands("start", 100)


def test_hinge_ref_packet_as_documented():
    # README: "H1", u16 seq (first sample), u32 us (first sample), then N x (3 x i16 acc 1/2048 g,
    # 3 x i16 gyr 1/16 deg/s)
    samples = [(2048, 0, -1024, 16, -32, 1600), (0, 2048, 0, 0, 0, -16)]
    payload = b"H1" + struct.pack("<HI", 65535, 4_000_000) + b"".join(struct.pack("<6h", *s) for s in samples)
    dec = profiles.load("hinge-ref").decoder(rate_hz=100)
    s = dec.feed(payload)
    np.testing.assert_allclose(s.acc, [[G0, 0, -G0 / 2], [0, G0, 0]])
    np.testing.assert_allclose(s.gyr, np.array([[1, -2, 100], [0, 0, -1]]) * D2R)
    assert list(s.seq) == [65535, 65536]  # unwrapped across the u16 wrap
    np.testing.assert_allclose(s.device_time_s, [4.0, 4.01])
    nxt = b"H1" + struct.pack("<HI", 1, 4_020_000) + struct.pack("<6h", *samples[0])
    assert list(dec.feed(nxt).seq) == [65537]


# -------------------------------------------------------------------------------------------- round trip


def _ranges(p: profiles.Profile) -> tuple[float, float, float, float]:
    """Full-scale (m/s², rad/s) and half-LSB tolerance for acc and gyr."""
    out = []
    for f in p.sample_fields:
        if f.kind in ("acc", "gyr"):
            if f.type.startswith("f"):
                out += [200.0 if f.kind == "acc" else 30.0, 0.0]
            else:
                out += [0.95 * f.si_scale * 2 ** (8 * int(f.type[1:]) // 8 - 1), f.si_scale / 2]
    return tuple(out)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_decode_encode_roundtrip(name, data):
    p = profiles.load(name)
    amax, atol, gmax, gtol = _ranges(p)
    k = p.samples_per_packet
    n = data.draw(st.integers(1, 5)) * k + (data.draw(st.integers(0, k - 1)) if p.variable_samples else 0)
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    acc = rng.uniform(-amax, amax, (n, 3))
    gyr = rng.uniform(-gmax, gmax, (n, 3))
    seq0 = data.draw(st.integers(0, 2**20))
    t0 = data.draw(st.floats(0, 1e5))
    rate = p.nominal_hz
    seq = seq0 + np.arange(n)
    tdev = t0 + np.arange(n) / rate
    dec = p.decoder()
    s = profiles.Samples.concat([dec.feed(b) for b in p.encode(acc, gyr, seq=seq, device_time_s=tdev)])
    assert dec.stats.bad_packets == 0 and dec.stats.samples == n
    np.testing.assert_allclose(s.acc, acc, atol=atol + 1e-6 * amax, rtol=0)
    np.testing.assert_allclose(s.gyr, gyr, atol=gtol + 1e-6 * gmax, rtol=0)
    if p.has_seq:
        assert np.array_equal(s.seq - s.seq[0], seq - seq[0])
        assert s.seq[0] % 65536 == seq0 % 65536
    if p.has_device_time:
        tick = p.header_fields[[f.kind for f in p.header_fields].index("time")].si_scale
        d = s.device_time_s - tdev
        assert np.ptp(d) <= tick + 1e-9  # quantised to one tick, unwrapped continuously


def test_encode_quantises_and_clips():
    p = profiles.load("witmotion-bwt901ble")
    (frame,) = p.encode([[1000.0, 0.001, -1000.0]], [[0, 0, 0]])
    s = p.decode(frame)
    lsb = 16 * G0 / 32768
    np.testing.assert_allclose(s.acc[0], [32767 * lsb, 0.0, -32768 * lsb])


# ------------------------------------------------------------------------------------------------ framing


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, 400), max_size=30),
       garbage=st.binary(max_size=7))
def test_witmotion_stream_framing_any_split(seed, cuts, garbage):
    p = profiles.load("witmotion-bwt901ble")
    rng = np.random.default_rng(seed)
    n = 15
    acc = rng.uniform(-100, 100, (n, 3))
    gyr = rng.uniform(-30, 30, (n, 3))
    frames = p.encode(acc, gyr)
    reply = bytes.fromhex("5571 6400 9A01") + bytes(14)
    stream = garbage.replace(b"\x55", b"\x00") + b"".join(frames[:7]) + reply + b"".join(frames[7:])
    bounds = sorted({c for c in cuts if c < len(stream)} | {0, len(stream)})
    dec = p.decoder()
    parts = [dec.feed(stream[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    s = profiles.Samples.concat(parts)
    assert len(s) == n
    np.testing.assert_allclose(s.acc, acc, atol=16 * G0 / 32768)
    assert dec.stats.aux_frames == 1
    assert dec.stats.bytes_skipped == len(garbage)
    assert dec.stats.bad_packets == (1 if garbage else 0)


def test_witmotion_resyncs_after_corruption():
    p = profiles.load("witmotion-bwt901ble")
    frames = p.encode(np.ones((4, 3)), np.zeros((4, 3)))
    broken = frames[1][:9]  # a truncated frame in the middle of the stream
    dec = p.decoder()
    s = dec.feed(frames[0] + broken + frames[2] + frames[3])
    assert len(s) == 3
    assert dec.stats.bad_packets == 1 and dec.stats.bytes_skipped == 9


@pytest.mark.parametrize("name", ["hinge-ref", "movella-dot", "movesense", "nordic-thingy52"])
def test_wrong_length_and_bad_magic_are_counted(name):
    p = profiles.load(name)
    (good, *_) = p.encode(np.zeros((p.samples_per_packet, 3)), np.zeros((p.samples_per_packet, 3)))
    dec = p.decoder()
    short = good[: p.frame_size() - 1]
    assert len(dec.feed(short)) == 0
    assert len(dec.feed(good + b"\x01" * 64)) == 0
    assert len(dec.feed(b"")) == 0
    assert dec.stats.bad_packets == 3
    if p.sync:
        assert len(dec.feed(b"\x00" + good[1:])) == 0
        assert dec.stats.bad_packets == 4
    if p.pad_to:
        assert len(dec.feed(good[:-1] + b"\x07")) == 0  # padding must be zeros
        assert dec.stats.bad_packets == 4
    assert len(dec.feed(good)) == p.samples_per_packet
    assert dec.stats.bad_packets == 3 + bool(p.sync) + bool(p.pad_to)
    assert dec.stats.bytes_skipped == len(short) + len(good) + 64 + (len(good) if p.sync or p.pad_to else 0)


@pytest.mark.parametrize("name", ALL)
def test_fuzz_random_payloads_never_raise(name):
    p = profiles.load(name)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    dec = p.decoder()
    n_samples = 0
    for _ in range(3000):
        size = int(rng.choice([rng.integers(0, 300), p.frame_size(), p.header_size + p.sample_size]))
        payload = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        if p.sync and rng.random() < 0.5:
            payload = p.sync + payload[len(p.sync):]
        s = dec.feed(payload)
        n_samples += len(s)
        assert s.acc.shape == (len(s), 3) and s.gyr.shape == (len(s), 3)
        assert (s.seq is not None) == p.has_seq and (s.device_time_s is not None) == p.has_device_time
    assert dec.stats.packets == 3000
    assert dec.stats.samples == n_samples
    assert dec.stats.bad_packets > 0


# -------------------------------------------------------------------------------------------- validation


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "field", "expect"),
    [
        ('scale = 0.06103515625, unit = "deg/s" }', "scale = 'abc', unit = \"deg/s\" }",
         "packet.sample_fields[1].scale", "expected a number, got 'abc'"),
        ('notify = "0000ffe4-0000-1000-8000-00805f9a34fb"\n', "", "gatt.notify", "missing"),
        ('notify = "0000ffe4-0000-1000-8000-00805f9a34fb"', 'notify = "ffe4"', "gatt.notify",
         "expected a 128-bit UUID"),
        ("mtu = 23", "mtu = 23\nmtuu = 40", "gatt.mtuu", "unknown field"),
        ('sync = "55 61"', 'sync = "55 6G"', "packet.sync", "expected hex bytes"),
        ('{ name = "euler", type = "i16", count = 3 }', '{ name = "euler", type = "i17", count = 3 }',
         "packet.sample_fields[2].type", "expected one of"),
        ('"FF AA 03 {rate_code} 00"', '"FF AA 03 {rat_code} 00"', "commands.set_rate[1].hex", "expected hex"),
        ("nominal_hz = 100", "nominal_hz = 200", "rates.nominal_hz", "not in rates.supported_hz"),
        ('unit = "g" }', 'unit = "furlong" }', "packet.sample_fields[0].unit", "expected one of"),
        ("schema = 1", "schema = 2", "schema", "expected 1"),
    ],
)
def test_validation_errors_name_file_and_field(tmp_path, old, new, field, expect):
    text = profiles.load("witmotion-bwt901ble").raw_text
    assert old in text
    path = _write(tmp_path, "witmotion-bwt901ble", text.replace(old, new, 1))
    with pytest.raises(InputError) as info:
        profiles.load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: field {field}: "), msg
    assert expect in msg


def test_validation_mtu_too_small_and_name_mismatch(tmp_path):
    text = profiles.load("hinge-ref").raw_text
    path = _write(tmp_path, "hinge-ref", text.replace("mtu = 247", "mtu = 23"))
    with pytest.raises(InputError, match=r"field gatt\.mtu: 23 too small for 236-byte"):
        profiles.load(path)
    other = _write(tmp_path, "my-board", text)
    with pytest.raises(InputError, match=r"my-board\.toml: field name: expected the file stem 'my-board'"):
        profiles.load(other)


def test_shipped_profile_errors_use_repo_relative_path(tmp_path, monkeypatch):
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path / "firmware_profiles")
    (tmp_path / "firmware_profiles").mkdir()
    _write(tmp_path / "firmware_profiles", "x", 'schema = 1\nname = "x"\nproduct = "x"\n')
    with pytest.raises(InputError, match=r"^firmware_profiles/x\.toml: field discovery: missing"):
        profiles.load("x")


def test_invalid_toml_syntax(tmp_path):
    path = _write(tmp_path, "x", "schema = = 1")
    with pytest.raises(InputError, match=r"x\.toml: not valid TOML"):
        profiles.load(path)


# --------------------------------------------------------------------------------------------- discovery


@pytest.mark.parametrize(
    ("name", "uuids", "expect"),
    [
        ("WT901BLE68", [], "witmotion-bwt901ble"),
        (None, ["15171000-4947-11E9-8646-D663BD873D93"], "movella-dot"),
        ("Movella DOT", [], "movella-dot"),
        ("Movesense 220330000122", [], "movesense"),
        ("Thingy", [], "nordic-thingy52"),
        ("hinge-sacrum", [], "hinge-ref"),
        ("whatever", ["53270000-2bc1-4510-be5d-a2ed32600234"], "hinge-ref"),
        ("Polar Sense", [], None),
    ],
)
def test_match_advertisements(name, uuids, expect):
    got = profiles.match(name, uuids)
    assert (got.name if got else None) == expect


def test_hinge_ref_readme_example_decodes():
    readme = (profiles.PROFILE_DIR / "README.md").read_text()
    hexstr = "48 31 FF FF 00 09 3D 00 00 08 00 00 00 FC 10 00 E0 FF 40 06"
    assert hexstr in readme
    s = profiles.load("hinge-ref").decode(bytes.fromhex(hexstr))
    assert list(s.seq) == [65535] and s.device_time_s[0] == pytest.approx(4.0)
    np.testing.assert_allclose(s.acc, [[G0, 0, -G0 / 2]])
    np.testing.assert_allclose(s.gyr, [[D2R, -2 * D2R, 100 * D2R]])
