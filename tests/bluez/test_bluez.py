"""The app on bleak's real BlueZ backend: BlueZoo (BlueZ's D-Bus API, emulated) on a private bus.

Each emulated sensor is a separate process (`hinge.sensing.bluez_peripheral`) that advertises and serves
a GATT application on its own BlueZoo adapter, laid out as its firmware profile says, and streams
`profile.encode` packets of `hinge.sensing.emulated.default_motion` in real time. The app's central is
adapter hci0 (`--adapter hci0` / `adapter="hci0"`). Ground truth is the generator: sample k of a
stream is `default_motion(k / rate)`, quantised by the profile — never the code under test.

Waits are wall-clock (real external processes) and bounded by `GUARD_S`.

Reconnecting in BlueZoo: it keeps a disconnected device's service objects, so a second Connect to
the same device fails (EEXIST). The link-drop test therefore removes the stale device from hci0
after its `Device1.Disconnect` (as BlueZ does with a temporary device it stopped seeing), and the
emulated sensor registers its GATT application afresh after a disconnection (fresh handles).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from hinge.cli import main
from hinge.sensing.ble import BleSource, SensorTarget
from hinge.sensing.bluez_sandbox import CENTRAL
from hinge.sensing.emulated import default_motion
from hinge.sensing.errors import InputError
from hinge.sensing.profiles import Profile, Samples, load, loads
from hinge.sensing.recording import read_recording
from hinge.sensing.types import RawPacket

pytestmark = [pytest.mark.bluez, pytest.mark.xdist_group("bluez")]

GUARD_S = 30.0
PROFILES = ["hinge-ref", "witmotion-bwt901ble", "nordic-thingy52", "movella-dot", "movesense"]


def rate_for(profile: Profile) -> float:
    """200 Hz (or the nearest above) where the profile allows, else 100 Hz, else its fastest rate."""
    rates = sorted(profile.supported_hz)
    for lo in (200, 100):
        above = [r for r in rates if lo <= r <= 1.1 * lo]
        if above:
            return above[0]
    return rates[-1]


def settings(**kw) -> dict:
    base = dict(adapter=CENTRAL, silence_timeout_s=None, scan_timeout_s=10.0, start_timeout_s=5.0,
                backoff_s=(0.5, 2.0))
    base.update(kw)
    return base


def decode(profile: Profile, rate: float, payloads: list[bytes]) -> tuple[Samples, object]:
    dec = profile.decoder(rate)
    parts = [s for s in (dec.feed(p) for p in payloads) if len(s)]
    return Samples.concat(parts), dec.stats


def check_against_generator(profile: Profile, rate: float, payloads: list[bytes], *,
                            contiguous: bool = True) -> Samples:
    """Decoded samples of one sensor = the generator's samples 0, 1, 2, ... (zero loss, in order)
    within the profile's quantisation. With `contiguous` False (firmware with a sample counter
    only), samples may be missing: each must equal the generator's sample its counter names.
    Raises AssertionError naming what differs."""
    s, stats = decode(profile, rate, payloads)
    assert stats.bad_packets == 0, f"{profile.name}: {stats.bad_packets} packets the decoder rejected"
    assert len(s) > 0, f"{profile.name}: no samples decoded from {len(payloads)} packets"
    k = np.arange(len(s))
    if s.seq is not None:
        assert s.seq[0] == 0, f"{profile.name}: stream starts at sample {s.seq[0]}"
        assert np.all(np.diff(s.seq) >= 1), f"{profile.name}: sample counter goes back"
        assert not contiguous or np.array_equal(s.seq, k), f"{profile.name}: sample counter has gaps"
        k = s.seq
    else:
        assert contiguous, "losses can only be located with a sample counter"
    t = k / rate
    if s.device_time_s is not None:
        dt = np.abs((s.device_time_s - s.device_time_s[0]) - (t - t[0])).max()
        assert dt <= 1.5e-3, f"{profile.name}: device time off by {dt:.4f} s"
    acc, gyr = default_motion(t)
    for what, got, want in (("acc", s.acc, acc), ("gyr", s.gyr, gyr)):
        f = next(f for f in profile.sample_fields if f.kind == what)
        tol = f.si_scale if f.type.startswith(("i", "u")) else 1e-4
        err = np.abs(got - want).max()
        assert err <= tol, f"{profile.name}: {what} differs from the generator by {err:.4g} (quantum {tol:.4g})"
    return s


async def stream(targets: list[SensorTarget], seconds: float, **kw) -> tuple[dict[str, list[bytes]], BleSource]:
    """Connect through BleSource, collect every payload per sensor for `seconds` after both connected."""
    payloads: dict[str, list[bytes]] = {t.placement: [] for t in targets}
    src = BleSource(targets, **settings(**kw))

    async def run() -> None:
        async with src:
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            async for pkt in src:
                payloads[pkt.sensor].append(pkt.payload)
                if loop.time() >= end:
                    break

    await asyncio.wait_for(run(), GUARD_S + seconds)
    return payloads, src


async def bluez_call(path: str, interface: str, member: str, signature: str = "", body: list | None = None) -> None:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(Message(destination="org.bluez", path=path, interface=interface, member=member,
                                       signature=signature, body=body or []))
        assert reply.message_type == MessageType.METHOD_RETURN, f"{member} {path}: {reply.error_name} {reply.body}"
    finally:
        bus.disconnect()


# -- scan -------------------------------------------------------------------------------------------
def test_hinge_scan_lists_both_sensors_on_the_given_adapter(bluez, capsys):
    a, b, c = bluez.add_sensors([("hinge-ref", "hinge-sacrum"), ("witmotion-bwt901ble", "WT901-thor"),
                                 ("hinge-ref", "hinge-thor")])
    assert main(["scan", "--adapter", CENTRAL, "--timeout", "3"]) == 0
    out = capsys.readouterr().out
    rows = {ln.split()[1]: ln.split() for ln in out.splitlines()[1:] if ":" in ln and not ln.startswith("record")}
    assert f"--adapter {CENTRAL}" in out.splitlines()[-1]  # the suggested record command keeps the adapter
    assert rows[c.address][3] == "hinge-ref"
    assert rows[a.address][0] == "hinge-sacrum" and rows[a.address][3] == "hinge-ref"
    assert rows[b.address][0] == "WT901-thor" and rows[b.address][3] == "witmotion-bwt901ble"
    assert rows[a.address][4] == "87%"  # battery level from the advert's service data

    assert main(["scan", "--adapter", "hci77", "--timeout", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'hci77' not found" in err and "\n" not in err


@pytest.mark.parametrize("command", ["live", "record"])
def test_live_and_record_pass_the_adapter_to_bleak(bluez, tmp_path, capsys, command):
    extra = ["--no-record", "--terminal"] if command == "live" else ["--out", str(tmp_path / "x.jsonl")]
    assert main([command, "--adapter", "hci77", "--sacrum", "C0:DE:00:00:00:F0", "--thoracic", "C0:DE:00:00:00:F1",
                 "--duration", "5", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"hinge {command}: error: Bluetooth adapter 'hci77' not found")


# -- streaming each profile's GATT layout and packets ----------------------------------------------------
@pytest.mark.parametrize("name", PROFILES)
async def test_each_profile_streams_through_bluez_with_zero_loss(bluez, name):
    profile = load(name)
    rate = rate_for(profile)
    (sensor,) = bluez.add_sensors([(name, None)])
    payloads, src = await stream([SensorTarget("sacrum", sensor.address, profile, rate)], 2.0)
    counters = bluez.stop_sensor(sensor)

    s = check_against_generator(profile, rate, payloads["sacrum"])
    assert len(s) >= 1.5 * rate
    assert src.stats["sacrum"].mtu == 247  # acquired from the peripheral (bleak's default would be 23)
    assert counters["rate_hz"] == rate  # the profile's rate command reached the firmware
    assert counters["subscriptions"] == 1
    if profile.commands("stop", rate):
        assert counters["commands"][-1] == profile.commands("stop", rate)[-1].data.hex()
    battery = ["battery"] if profile.battery.kind == "gatt" else []  # read from the GATT battery characteristic
    assert [e.event for e in src.events] == ["connected", *battery, "disconnected"]


async def test_small_mtu_is_read_from_the_peripheral_and_reported(bluez, caplog):
    (sensor,) = bluez.add_sensors([("hinge-ref", None)], extra=["--mtu", "23"])
    _, src = await stream([SensorTarget("sacrum", sensor.address, "hinge-ref", 100)], 0.2)
    assert src.stats["sacrum"].mtu == 23
    assert "ATT MTU is 23 but profile hinge-ref needs 247" in caplog.text


# -- hinge record: 10 s of two sensors --------------------------------------------------------------------
def test_hinge_record_two_sensors_for_10_s(bluez, tmp_path, capsys):
    name = "hinge-ref"
    profile = load(name)
    rate = rate_for(profile)
    a, b = bluez.add_sensors([(name, None), (name, None)])
    out = tmp_path / "set.jsonl"
    assert main(["record", "--adapter", CENTRAL, "--sacrum", a.address, "--thoracic", b.address, "--profile", name,
                 "--rate", f"{rate:g}", "--duration", "14", "--out", str(out)]) == 0, capsys.readouterr().err
    sent = {"sacrum": bluez.stop_sensor(a), "thoracic": bluez.stop_sensor(b)}

    rec = read_recording(out)
    payloads: dict[str, list[bytes]] = {"sacrum": [], "thoracic": []}
    events = []
    for item in rec:
        if isinstance(item, RawPacket):
            payloads[item.sensor].append(item.payload)
        else:
            events.append((item.sensor, item.event))
    assert rec.stats.bad_lines == 0 and not rec.stats.truncated_tail
    for placement in ("sacrum", "thoracic"):
        assert rec.sensors[placement]["rate_hz"] == rate
        s = check_against_generator(profile, rate, payloads[placement])
        assert len(s) >= 10 * rate, f"{placement}: only {len(s) / rate:.1f} s recorded"
        # what was still on its way when the app stopped is not recorded; nothing else is missing
        assert len(payloads[placement]) <= sent[placement]["packets_sent"]
        assert (placement, "connected") in events


# -- a link drop -----------------------------------------------------------------------------------------
async def test_link_drop_is_reported_and_survived(bluez):
    profile = load("hinge-ref")
    a, b = bluez.add_sensors([("hinge-ref", None), ("hinge-ref", None)])
    targets = [SensorTarget("sacrum", a.address, profile, 200), SensorTarget("thoracic", b.address, profile, 200)]
    payloads: dict[str, list[bytes]] = {"sacrum": [], "thoracic": []}
    src = BleSource(targets, **settings())
    n_before_drop = -1

    async def run() -> None:
        nonlocal n_before_drop
        async with src:
            loop = asyncio.get_running_loop()
            t_drop = loop.time() + 1.0
            async for pkt in src:
                payloads[pkt.sensor].append(pkt.payload)
                if n_before_drop < 0 and loop.time() >= t_drop:
                    n_before_drop = len(payloads["sacrum"])
                    await bluez_call(a.device_path, "org.bluez.Device1", "Disconnect")
                    await bluez_call(f"/org/bluez/{CENTRAL}", "org.bluez.Adapter1", "RemoveDevice", "o",
                                     [a.device_path])
                if n_before_drop >= 0 and len(payloads["sacrum"]) > n_before_drop + 50:
                    return  # the sacrum sensor streams again

    await asyncio.wait_for(run(), GUARD_S)
    events = [(e.sensor, e.event, e.value) for e in src.events]
    sacrum = [(ev, v) for s, ev, v in events if s == "sacrum"]
    assert sacrum[:3] == [("connected", a.address), ("battery", 87), ("disconnected", "link lost")]  # reported
    assert sacrum[3:5] == [("connected", a.address), ("battery", 87)]  # ... and survived
    assert src.stats["sacrum"].drops == 1 and src.stats["sacrum"].connects == 2
    assert src.stats["thoracic"].drops == 0 and src.stats["thoracic"].connects == 1

    check_against_generator(profile, 200, payloads["thoracic"])  # the other sensor: not a sample lost
    # the emulated firmware's counter and clock pause while it is not streaming, so the sacrum
    # stream goes on where it stopped; only what was in flight at the drop may be missing
    assert 0 < n_before_drop < len(payloads["sacrum"]) - 50
    s = check_against_generator(profile, 200, payloads["sacrum"], contiguous=False)
    jumps = np.diff(s.seq)[np.diff(s.seq) != 1]
    assert len(jumps) <= 1 and jumps.sum() - len(jumps) <= 2 * profile.samples_per_packet, jumps


# -- a profile that does not match the firmware fails ----------------------------------------------------
def broken(name: str, old: str, new: str) -> Profile:
    text = load(name).raw_text
    assert old in text
    return loads(text.replace(old, new), source=f"broken {name}")


async def test_profile_whose_packet_does_not_match_the_firmware_fails(bluez):
    # the sensor sends hinge-ref packets; this profile reads the accelerometer at twice its scale
    bad = broken("hinge-ref", "scale = 0.00048828125", "scale = 0.0009765625")
    (sensor,) = bluez.add_sensors([("hinge-ref", None)])
    payloads, _ = await stream([SensorTarget("sacrum", sensor.address, bad, 100)], 1.0)
    with pytest.raises(AssertionError, match="acc differs from the generator"):
        check_against_generator(bad, 100, payloads["sacrum"])
    check_against_generator(load("hinge-ref"), 100, payloads["sacrum"])  # the same bytes, the right profile


async def test_profile_whose_gatt_layout_does_not_match_the_firmware_fails(bluez):
    # the sensor serves hinge-ref's GATT table; this profile expects another notify characteristic
    bad = broken("hinge-ref", 'notify = "53270001-', 'notify = "53270009-')
    (sensor,) = bluez.add_sensors([("hinge-ref", None)])
    with pytest.raises(InputError, match="could not connect") as exc:
        await stream([SensorTarget("sacrum", sensor.address, bad, 100)], 1.0, start_timeout_s=1.0)
    assert "\n" not in str(exc.value)
