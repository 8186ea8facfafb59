"""End-to-end BLE tests: the app's bleak client against emulated sensors on Bumble's virtual radio.

No hardware and no OS Bluetooth stack: each test hands the emulated radio's backend classes
(`hinge.sensing.bumble_backend`, research/ble-testing.md §2) to bleak the way bleak takes them, as
``backend=`` (`BleSource(backend=..., scanner_backend=...)`, `scan(backend=...)`, `BleakClient(backend=...)`),
so `hinge.sensing.ble` runs unchanged on plain bleak; nothing of bleak's is patched.
The emulated sensors reproduce real firmware profiles and stream as fast as the event loop allows.
Ground truth (which samples were sent, their values) comes from the peripherals' generator — the
sample index and `default_motion` — never from the code under test.
"""

from __future__ import annotations

import asyncio
import struct

import bleak
import numpy as np
import pytest

from hinge.sensing.ble import BleSource, SensorNotFound, SensorTarget, StartError, scan
from hinge.sensing.emulated import Action, CounterPackets, EmulatedRadio, SensorSpec, default_motion
from hinge.sensing.errors import InputError
from hinge.sensing.profiles import Samples, load

HREF = load("hinge-ref")  # 4 samples/packet, u16 counter + µs clock, 50-400 Hz, start/stop commands
WIT = load("witmotion-bwt901ble")  # byte stream, no counter, streams on subscribe, 3-step rate command
THINGY = load("nordic-thingy52")  # 1 sample/packet, no counter, rate via config characteristic


@pytest.fixture
async def radio():
    """An emulated radio; its bleak backend classes are passed explicitly (`fast`, `scan(backend=...)`)."""
    async with EmulatedRadio() as r:
        yield r


def fast(radio: EmulatedRadio, **kw) -> dict:
    """BleSource settings for tests: the radio's bleak backends, short backoff and timeouts (the virtual
    link answers in ms)."""
    base = dict(backend=radio.client_type(), scanner_backend=radio.scanner_type(), backoff_s=(0.005, 0.05),
                start_timeout_s=1.0, scan_timeout_s=2.0, silence_timeout_s=None)
    base.update(kw)
    return base


async def href_sensor(radio, name: str = "hinge-A"):
    return await radio.add_sensor(SensorSpec.from_profile(HREF, name=name))


class Decoded:
    """Decodes one sensor's payloads as the runner would (fresh decoder per BleSource)."""

    def __init__(self, profile, rate_hz: float) -> None:
        self.decoder = profile.decoder(rate_hz)
        self.parts: list[Samples] = []

    def feed(self, payload: bytes) -> int:
        s = self.decoder.feed(payload)
        if len(s):
            self.parts.append(s)
        return len(s)

    @property
    def samples(self) -> Samples:
        return Samples.concat(self.parts)

    @property
    def seq(self) -> list[int]:
        return [int(x) for x in self.samples.seq]


GUARD_S = 20.0  # a broken stream fails the test instead of hanging it


async def collect(src: BleSource, n_samples: dict[str, int]) -> dict[str, Decoded]:
    """Read until every sensor delivered at least n decoded samples."""
    dec = {k: Decoded(src.profiles[k], src.rates_hz[k]) for k in n_samples}
    have = dict.fromkeys(n_samples, 0)

    async def run() -> None:
        async for pkt in src:
            have[pkt.sensor] += dec[pkt.sensor].feed(pkt.payload)
            if all(have[k] >= n for k, n in n_samples.items()):
                return

    await asyncio.wait_for(run(), GUARD_S)
    return dec


async def read_until_seq(src: BleSource, sensor: str, dec: Decoded, k: int, other: Decoded | None = None) -> None:
    """Read until `sensor` delivers a sample with counter >= k (i.e. sent after that point);
    packets of the other sensor go to `other`."""

    async def run() -> None:
        async for pkt in src:
            if pkt.sensor != sensor:
                if other is not None:
                    other.feed(pkt.payload)
            elif dec.feed(pkt.payload) and dec.parts[-1].seq[-1] >= k:
                return

    await asyncio.wait_for(run(), GUARD_S)


class EventWaiter:
    """on_event hook that lets a test await a given (sensor, event, value prefix)."""

    def __init__(self) -> None:
        self.seen: list = []
        self._cond = asyncio.Condition()

    def __call__(self, ev) -> None:
        self.seen.append(ev)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait(self, sensor: str, event: str, prefix: str = "", count: int = 1) -> None:
        def hits() -> int:
            return sum(1 for e in self.seen if e.sensor == sensor and e.event == event
                       and str(e.value).startswith(prefix))

        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: hits() >= count), 10)


def events_of(src: BleSource, sensor: str) -> list[str]:
    return [e.event for e in src.events if e.sensor == sensor]


# -- scanning ---------------------------------------------------------------------------------------
async def test_scan_finds_profile_sensors_and_ignores_others(radio):
    a = await href_sensor(radio, "hinge-sacrum")
    b = await radio.add_sensor(SensorSpec.from_profile(WIT, name="WT901BLE68"))
    c = await radio.add_sensor(SensorSpec.from_profile(HREF, name="XIAO", advertised_uuids=()))
    await radio.add_sensor(SensorSpec(name="Headphones", service_uuid="180d", notify_uuid="2a37",
                                      advertised_uuids=("180d",)))
    found = await scan(timeout=0.4, backend=radio.scanner_type())  # all shipped profiles
    by_addr = {f.address: f for f in found}
    assert set(by_addr) == {a.address, b.address}  # "XIAO" advertises neither name nor UUID of a profile
    assert c.address not in by_addr
    assert (by_addr[a.address].name, by_addr[a.address].profile) == ("hinge-sacrum", "hinge-ref")
    assert (by_addr[b.address].name, by_addr[b.address].profile) == ("WT901BLE68", "witmotion-bwt901ble")
    assert all(isinstance(f.rssi, int) for f in found)


async def test_scan_matches_by_service_uuid_and_can_stop_early(radio):
    await radio.add_sensor(SensorSpec.from_profile(HREF, name="XIAO"))  # name matches nothing; UUID does
    await href_sensor(radio, "hinge-B")
    found = await scan(timeout=30, backend=radio.scanner_type(), profiles=["hinge-ref"], stop_after=2)
    assert sorted(f.name for f in found) == ["XIAO", "hinge-B"]


# -- streaming --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("profile", "rate_hz"), [(HREF, 100.0), (HREF, 200.0), (WIT, 100.0), (THINGY, 200.0)],
                         ids=["hinge-ref-100", "hinge-ref-200", "witmotion-100", "thingy-200"])
async def test_two_sensors_ten_device_seconds_without_loss(radio, profile, rate_hz):
    s1 = await radio.add_sensor(SensorSpec.from_profile(profile, name="one"))
    s2 = await radio.add_sensor(SensorSpec.from_profile(profile, name="two"))
    assert s1.rate_hz != rate_hz  # the client must configure the rate
    n = int(10 * rate_hz)
    targets = [SensorTarget("sacrum", s1.address, profile, rate_hz),
               SensorTarget("thoracic", s2.address, profile, rate_hz)]
    async with BleSource(targets, **fast(radio)) as src:
        dec = await collect(src, {"sacrum": n, "thoracic": n})
        stats = src.stats
    t = np.arange(n) / rate_hz
    acc_true, gyr_true = default_motion(t)
    for sensor in ("sacrum", "thoracic"):
        got = dec[sensor].samples
        assert dec[sensor].decoder.stats.bad_packets == 0
        # every sample, in order: the motion is unique per sample, so any loss or reordering shows
        np.testing.assert_allclose(got.acc[:n], acc_true, atol=0.01)
        np.testing.assert_allclose(got.gyr[:n], gyr_true, atol=0.01)
        if profile.has_seq:
            assert dec[sensor].seq[:n] == list(range(n))
        if profile.has_device_time:
            assert got.device_time_s[n - 1] == pytest.approx(t[-1], abs=2e-6)
        assert stats[sensor].overflow_lost == 0 and stats[sensor].drops == 0
    assert s1.rate_hz == rate_hz and s2.rate_hz == rate_hz


async def test_one_sensor_events_battery_and_clean_stop(radio):
    sensor = await href_sensor(radio)
    async with BleSource([SensorTarget("sacrum", sensor.address, "hinge-ref")], **fast(radio)) as src:
        await collect(src, {"sacrum": 40})
        assert src.connected("sacrum")
    assert [(e.event, e.value) for e in src.events] == [
        ("connected", sensor.address), ("battery", 87), ("disconnected", "closed")]
    assert sensor.commands[-1] == b"\x00"  # the profile's stop command, sent on close
    assert not sensor.connected


async def test_backend_mtu_truncation_battery_and_same_object_reconnect(radio):
    spec = SensorSpec(name="RAW", service_uuid="ffe5", notify_uuid="ffe4", write_uuids=("ffe9",),
                      commands={b"\x01": Action(start=True)}, packets=CounterPackets(pad=92))  # 100 B
    sensor = await radio.add_sensor(spec)
    device = await bleak.BleakScanner.find_device_by_address(sensor.address, timeout=2,
                                                             backend=radio.scanner_type())
    for mtu, expected in ((23, 20), (247, 100)):
        got: asyncio.Queue[bytes] = asyncio.Queue()
        async with bleak.BleakClient(device, bumble={"mtu": mtu}, backend=radio.client_type()) as client:
            assert client.mtu_size == mtu
            await client.start_notify("ffe4", lambda _c, d, q=got: q.put_nowait(bytes(d)))
            await client.write_gatt_char("ffe9", b"\x01", response=True)
            first = await got.get()
            assert (await client.read_gatt_char("2a19")) == bytearray([87])
        assert len(first) == expected
    # a peripheral-side drop calls disconnected_callback; the same client object reconnects
    dropped = asyncio.Event()
    client = bleak.BleakClient(device, disconnected_callback=lambda _c: dropped.set(),
                              backend=radio.client_type())
    await client.connect()
    await sensor.drop()
    await dropped.wait()
    assert not client.is_connected
    await client.connect()
    assert (await client.read_gatt_char("2a19")) == bytearray([87])
    await client.disconnect()


# -- faults -----------------------------------------------------------------------------------------
async def test_twenty_drops_reconnect_and_other_sensor_is_unaffected(radio):
    s1 = await href_sensor(radio, "hinge-A")
    # the bystander streams at 4x real time (400 Hz of device time) while the sacrum link cycles
    s2 = await radio.add_sensor(SensorSpec.from_profile(HREF, name="hinge-B"), speed=4.0)
    targets = [SensorTarget("sacrum", s1.address, HREF), SensorTarget("thoracic", s2.address, HREF)]
    sacrum, thoracic = Decoded(HREF, 100), Decoded(HREF, 100)
    async with BleSource(targets, **fast(radio)) as src:
        for cycle in range(21):
            # every sample with seq >= k was sent after the last drop, i.e. over the new link
            await read_until_seq(src, "sacrum", sacrum, s1.packets_sent * 4 + 20, other=thoracic)
            if cycle < 20:
                await s1.drop()
        stats = src.stats
        assert events_of(src, "sacrum").count("connected") == 21
        assert events_of(src, "sacrum").count("disconnected") == 20
        assert events_of(src, "thoracic") == ["connected", "battery"]
    seq = np.array(sacrum.seq)
    assert np.all(np.diff(seq) > 0)  # in order, no duplicates across 21 links
    assert stats["sacrum"].drops == 20 and stats["sacrum"].connects == 21
    assert thoracic.seq == list(range(len(thoracic.seq)))  # the other sensor lost nothing
    assert stats["thoracic"].drops == 0 and stats["thoracic"].overflow_lost == 0


async def test_sensor_that_never_starts_gives_a_clear_error(radio):
    sensor = await href_sensor(radio)
    sensor.refuse_start = True
    src = BleSource([SensorTarget("thoracic", sensor.address, HREF)], **fast(radio, start_timeout_s=0.2))
    with pytest.raises(StartError) as err:
        async with src:
            pass
    msg = str(err.value)
    assert "thoracic" in msg and sensor.address in msg and "start command" in msg and "\n" not in msg
    assert isinstance(err.value, InputError)
    assert [(e.event, e.value) for e in src.events if e.event != "battery"] == [
        ("connected", sensor.address), ("disconnected", "no data after start command")]
    assert not sensor.connected


async def test_start_refused_on_reconnect_is_reported_and_retried(radio):
    sensor = await href_sensor(radio)
    waiter = EventWaiter()
    src = BleSource([SensorTarget("sacrum", sensor.address, HREF)], **fast(radio, start_timeout_s=0.1),
                    on_event=waiter)
    dec = Decoded(HREF, 100)
    async with src:
        await read_until_seq(src, "sacrum", dec, 0)
        sensor.refuse_start = True
        await sensor.drop()
        await waiter.wait("sacrum", "disconnected", "no data after start command")
        sensor.refuse_start = False
        await read_until_seq(src, "sacrum", dec, sensor.packets_sent * 4)
    assert src.stats["sacrum"].start_failures >= 1


async def test_silence_watchdog_reconnects(radio):
    sensor = await href_sensor(radio)
    waiter = EventWaiter()
    dec = Decoded(HREF, 100)
    async with BleSource([SensorTarget("sacrum", sensor.address, HREF)],
                         **fast(radio, silence_timeout_s=0.2), on_event=waiter) as src:
        await read_until_seq(src, "sacrum", dec, 0)
        sensor.go_silent()  # still connected, but nothing arrives
        await waiter.wait("sacrum", "disconnected", "no data for 0.2 s")
        await read_until_seq(src, "sacrum", dec, sensor.packets_sent * 4)
        assert src.stats["sacrum"].connects == 2


async def test_sensor_off_then_on_resumes(radio):
    sensor = await href_sensor(radio)
    waiter = EventWaiter()
    dec = Decoded(HREF, 100)
    async with BleSource([SensorTarget("sacrum", sensor.address, HREF)],
                         **fast(radio, scan_timeout_s=0.1), on_event=waiter) as src:
        await read_until_seq(src, "sacrum", dec, 0)
        await sensor.power_off()
        await waiter.wait("sacrum", "disconnected", "link lost")
        assert not src.connected("sacrum")
        await sensor.power_on()
        await waiter.wait("sacrum", "connected", count=2)
        await read_until_seq(src, "sacrum", dec, sensor.packets_sent * 4)


async def test_flood_fills_bounded_queue_and_counts_loss(radio):
    sensor = await href_sensor(radio)
    async with BleSource([SensorTarget("sacrum", sensor.address, HREF)], **fast(radio), queue_size=64) as src:
        await sensor.wait_sent(600)  # the consumer is "busy": nothing is read meanwhile
        stats = src.stats["sacrum"]
        assert stats.overflow_lost == stats.packets - 64 > 400
        dec = Decoded(HREF, 100)
        for _ in range(64):
            dec.feed((await asyncio.wait_for(anext(src), GUARD_S)).payload)
        assert dec.seq == list(range(64 * 4))  # the oldest packets are kept, newer ones dropped
        await read_until_seq(src, "sacrum", dec, sensor.packets_sent * 4)  # and streaming goes on


async def test_garbage_payloads_are_counted_and_skipped(radio):
    sensor = await href_sensor(radio)
    sensor.garbage_every = 10  # packets 9, 19, 29, ... are random bytes of random length
    async with BleSource([SensorTarget("sacrum", sensor.address, HREF)], **fast(radio)) as src:
        dec = Decoded(HREF, 100)
        for _ in range(300):
            dec.feed((await asyncio.wait_for(anext(src), GUARD_S)).payload)
    assert dec.decoder.stats.bad_packets == 30
    good = [k for k in range(300) if (k + 1) % 10]
    assert dec.seq == [4 * k + i for k in good for i in range(4)]


async def test_cancel_disconnects_cleanly(radio):
    sensor = await href_sensor(radio)
    started = asyncio.Event()

    async def consume() -> None:
        async with BleSource([SensorTarget("sacrum", sensor.address, HREF)], **fast(radio)) as src:
            async for _pkt in src:
                started.set()

    task = asyncio.get_running_loop().create_task(consume())
    await started.wait()
    task.cancel()  # what asyncio.run does on Ctrl-C
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not sensor.connected
    assert sensor.commands[-1] == b"\x00"


async def test_missing_sensor_is_a_clear_error(radio):
    # the wait is the injected scan_timeout_s, and the line says so
    with pytest.raises(SensorNotFound, match=r"^sacrum sensor C0:00:00:00:00:09: not found within 0.1 s: "
                                             r"is it on and advertising\?$"):
        async with BleSource([SensorTarget("sacrum", "C0:00:00:00:00:09", HREF)], **fast(radio, scan_timeout_s=0.1)):
            pass


# -- bad configuration ------------------------------------------------------------------------------
def test_same_placement_twice_is_a_one_line_error():
    targets = [SensorTarget("sacrum", "C0:00:00:00:00:01", HREF), SensorTarget("sacrum", "C0:00:00:00:00:02", HREF)]
    with pytest.raises(InputError) as err:
        BleSource(targets)
    msg = str(err.value)
    assert "sacrum" in msg and "twice" in msg and "\n" not in msg


def test_bad_placement_address_or_rate_is_rejected():
    with pytest.raises(InputError, match="placement 'hip'"):
        BleSource([SensorTarget("hip", "C0:00:00:00:00:01", HREF)])
    with pytest.raises(InputError, match="both sacrum and thoracic"):
        BleSource([SensorTarget("sacrum", "C0:00:00:00:00:01", HREF),
                   SensorTarget("thoracic", "c0:00:00:00:00:01", HREF)])
    with pytest.raises(InputError, match=r"^thoracic: rate 200 Hz not supported by profile witmotion"):
        BleSource([SensorTarget("thoracic", "C0:00:00:00:00:01", WIT, 200.0)])


def test_counter_packets_layout():
    """The raw test format used above when no profile is involved."""
    (p,) = CounterPackets(pad=0).make(3, 0.25, 100.0)
    assert struct.unpack("<II", p) == (3, 250_000)
