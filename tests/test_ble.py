"""End-to-end BLE tests: the app's bleak client against emulated sensors on Bumble's virtual radio.

No hardware and no OS Bluetooth stack: a function-scoped fixture swaps bleak's platform backend for
`sensing.bumble_backend` (research/ble-testing.md §2), so `sensing.ble` runs unchanged on plain bleak.
The emulated sensors stream as fast as the event loop allows; ground truth (what was sent) comes
from the peripherals' own counters and packet contents, never from the code under test.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import replace

import bleak
import pytest

from sensing.ble import BleSource, Command, GattPlan, SensorTarget, StartError, scan
from sensing.emulated import CounterPackets, EmulatedRadio, SensorSpec
from sensing.errors import InputError

SERVICE = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE = "0000ffe9-0000-1000-8000-00805f9a34fb"
START, STOP = b"\xff\xaa\x01", b"\xff\xaa\x00"
RATE_200 = b"\xff\xaa\x03\x0b\x00"

RAW_PLAN = GattPlan(profile="counter-test", service_uuid=SERVICE, notify_uuid=NOTIFY, write_uuid=WRITE,
                    name_patterns=("CNT*",), start=(Command(START),), stop=(Command(STOP),))


def raw_spec(name: str = "CNT-1", **kw) -> SensorSpec:
    kw.setdefault("packets", CounterPackets())
    return SensorSpec(name=name, service_uuid=SERVICE, notify_uuid=NOTIFY, write_uuid=WRITE,
                      start_command=START, stop_command=STOP, rate_commands={RATE_200: 200.0}, **kw)


def seq_of(payload: bytes) -> int:
    return struct.unpack_from("<I", payload)[0]


@pytest.fixture
async def radio(monkeypatch):
    """An emulated radio whose central is bleak's default backend for this test only."""
    async with EmulatedRadio() as r:
        scanner, client = r.scanner_type(), r.client_type()
        monkeypatch.setattr(bleak, "get_platform_scanner_backend_type", lambda: (scanner, scanner.__name__))
        monkeypatch.setattr(bleak, "get_platform_client_backend_type", lambda: (client, client.__name__))
        yield r


def fast(**kw) -> dict:
    """BleSource settings for tests: short backoff and timeouts (the link answers in ms)."""
    base = dict(backoff_s=(0.005, 0.05), start_timeout_s=1.0, scan_timeout_s=2.0, silence_timeout_s=None)
    base.update(kw)
    return base


async def collect(src: BleSource, n_per_sensor: dict[str, int]) -> dict[str, list[bytes]]:
    got: dict[str, list[bytes]] = {k: [] for k in n_per_sensor}
    async for pkt in src:
        got[pkt.sensor].append(pkt.payload)
        if all(len(got[k]) >= n for k, n in n_per_sensor.items()):
            break
    return got


async def test_one_sensor_streams_in_order(radio):
    sensor = await radio.add_sensor(raw_spec())
    async with BleSource([SensorTarget("sacrum", sensor.address, RAW_PLAN)], **fast()) as src:
        got = await collect(src, {"sacrum": 500})
        assert src.stats["sacrum"].overflow_lost == 0
    seqs = [seq_of(p) for p in got["sacrum"][:500]]
    assert seqs == list(range(500))
    assert sensor.commands[-1] == STOP  # clean close sends the stop command
    assert [e.event for e in src.events][-1] == "disconnected"


def counter_time_s(payload: bytes) -> float:
    return struct.unpack_from("<I", payload, 4)[0] * 1e-6


def events_of(src: BleSource, sensor: str) -> list[str]:
    return [e.event for e in src.events if e.sensor == sensor]


class EventWaiter:
    """on_event hook that lets a test await a given (sensor, event, value-prefix)."""

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


# -- scanning ---------------------------------------------------------------------------------------
ALT_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
UUID_PLAN = GattPlan(profile="uuid-test", service_uuid=ALT_SERVICE, notify_uuid=NOTIFY,
                     advertised_uuids=(ALT_SERVICE,))


async def test_scan_finds_matching_sensors_and_ignores_others(radio):
    a = await radio.add_sensor(raw_spec("CNT-A"))
    b = await radio.add_sensor(SensorSpec(name="XY", service_uuid=ALT_SERVICE, notify_uuid=NOTIFY,
                                          write_uuid=None))
    await radio.add_sensor(SensorSpec(name="Headphones", service_uuid="180d", notify_uuid="2a37",
                                      write_uuid=None))
    found = await scan(timeout=0.4, profiles=[RAW_PLAN, UUID_PLAN])
    by_addr = {f.address: f for f in found}
    assert set(by_addr) == {a.address, b.address}
    assert by_addr[a.address].profile == "counter-test" and by_addr[a.address].name == "CNT-A"
    assert by_addr[b.address].profile == "uuid-test"
    assert all(isinstance(f.rssi, int) for f in found)


async def test_scan_stop_after_returns_early(radio):
    await radio.add_sensor(raw_spec("CNT-A"))
    await radio.add_sensor(raw_spec("CNT-B"))
    found = await scan(timeout=30, profiles=[RAW_PLAN], stop_after=2)
    assert sorted(f.name for f in found) == ["CNT-A", "CNT-B"]


# -- streaming --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate_hz", [100.0, 200.0])
async def test_two_sensors_ten_device_seconds_without_loss(radio, rate_hz):
    s1 = await radio.add_sensor(raw_spec("CNT-A"))
    s2 = await radio.add_sensor(raw_spec("CNT-B"))
    plan = RAW_PLAN if rate_hz == 100 else replace(RAW_PLAN, configure=(Command(RATE_200),))
    n = int(10 * rate_hz)
    targets = [SensorTarget("sacrum", s1.address, plan), SensorTarget("thoracic", s2.address, plan)]
    async with BleSource(targets, **fast()) as src:
        got = await collect(src, {"sacrum": n, "thoracic": n})
        stats = src.stats
    for sensor in ("sacrum", "thoracic"):
        seqs = [seq_of(p) for p in got[sensor][:n]]
        assert seqs == list(range(n)), sensor
        assert counter_time_s(got[sensor][n - 1]) == pytest.approx((n - 1) / rate_hz, abs=1e-6)
        assert stats[sensor].overflow_lost == 0
        assert stats[sensor].drops == 0
    assert s1.rate_hz == rate_hz and s2.rate_hz == rate_hz


async def test_larger_packets_need_and_get_a_larger_mtu(radio):
    sensor = await radio.add_sensor(raw_spec(packets=CounterPackets(pad=92)))  # 100-byte packets
    plan = replace(RAW_PLAN, packet_bytes=100)
    async with BleSource([SensorTarget("sacrum", sensor.address, plan)], **fast()) as src:
        got = await collect(src, {"sacrum": 10})
    assert {len(p) for p in got["sacrum"]} == {100}


async def test_backend_reports_mtu_and_truncates_at_23(radio):
    sensor = await radio.add_sensor(raw_spec(packets=CounterPackets(pad=92)))
    device = await bleak.BleakScanner.find_device_by_address(sensor.address, timeout=2)
    for mtu, expected in ((23, 20), (247, 100)):
        got: asyncio.Queue[bytes] = asyncio.Queue()
        async with bleak.BleakClient(device, bumble={"mtu": mtu}) as client:
            assert client.mtu_size == mtu
            await client.start_notify(NOTIFY, lambda _c, d, q=got: q.put_nowait(bytes(d)))
            await client.write_gatt_char(WRITE, START, response=True)
            first = await got.get()
            assert (await client.read_gatt_char("2a19"))[0] == sensor.spec.battery_percent
        assert len(first) == expected


# -- faults -----------------------------------------------------------------------------------------
async def test_twenty_drops_reconnect_and_other_sensor_is_unaffected(radio):
    s1 = await radio.add_sensor(raw_spec("CNT-A"))
    s2 = await radio.add_sensor(raw_spec("CNT-B"))
    targets = [SensorTarget("sacrum", s1.address, RAW_PLAN), SensorTarget("thoracic", s2.address, RAW_PLAN)]
    sacrum: list[int] = []
    thoracic: list[int] = []
    async with BleSource(targets, **fast()) as src:
        it = aiter(src)
        for _cycle in range(21):
            k_drop = s1.packets_sent  # every packet with seq >= k_drop went out after the last drop
            while not sacrum or sacrum[-1] < k_drop + 5:
                pkt = await anext(it)
                (sacrum if pkt.sensor == "sacrum" else thoracic).append(seq_of(pkt.payload))
            if _cycle < 20:
                await s1.drop()
        stats = src.stats
        assert events_of(src, "sacrum").count("connected") == 21
        assert events_of(src, "sacrum").count("disconnected") == 20
        assert events_of(src, "thoracic") == ["connected", "battery"]
    assert stats["sacrum"].drops == 20 and stats["sacrum"].connects == 21
    assert all(b > a for a, b in zip(sacrum, sacrum[1:], strict=False))  # in order, no duplicates across links
    assert thoracic == list(range(len(thoracic)))  # the other sensor lost nothing
    assert stats["thoracic"].drops == 0 and stats["thoracic"].overflow_lost == 0


async def test_sensor_that_never_starts_gives_a_clear_error(radio):
    sensor = await radio.add_sensor(raw_spec("CNT-A"))
    sensor.refuse_start = True
    src = BleSource([SensorTarget("thoracic", sensor.address, RAW_PLAN)], **fast(start_timeout_s=0.2))
    with pytest.raises(StartError) as err:
        async with src:
            pass
    msg = str(err.value)
    assert "thoracic" in msg and sensor.address in msg and "start command" in msg and "\n" not in msg
    assert isinstance(err.value, InputError)
    assert events_of(src, "thoracic")[-1] == "disconnected"
    assert [e.value for e in src.events if e.event == "disconnected"] == ["no data after start command"]
    assert not sensor.connected


async def test_start_refused_on_reconnect_is_reported_and_retried(radio):
    sensor = await radio.add_sensor(raw_spec("CNT-A"))
    waiter = EventWaiter()
    src = BleSource([SensorTarget("sacrum", sensor.address, RAW_PLAN)],
                    **fast(start_timeout_s=0.1), on_event=waiter)
    async with src:
        it = aiter(src)
        await anext(it)
        sensor.refuse_start = True
        await sensor.drop()
        await waiter.wait("sacrum", "disconnected", "no data after start command")
        sensor.refuse_start = False
        k = sensor.packets_sent
        while seq_of((await anext(it)).payload) < k:
            pass
    assert src.stats["sacrum"].start_failures >= 1


async def test_silence_watchdog_reconnects(radio):
    sensor = await radio.add_sensor(raw_spec("CNT-A"))
    waiter = EventWaiter()
    async with BleSource([SensorTarget("sacrum", sensor.address, RAW_PLAN)],
                         **fast(silence_timeout_s=0.2), on_event=waiter) as src:
        it = aiter(src)
        await anext(it)
        sensor.go_silent()  # connected, but nothing arrives
        await waiter.wait("sacrum", "disconnected", "no data for")
        k = sensor.packets_sent
        while seq_of((await anext(it)).payload) < k:
            pass
        assert src.stats["sacrum"].connects == 2


async def test_sensor_off_then_on_resumes(radio):
    sensor = await radio.add_sensor(raw_spec("CNT-A"))
    waiter = EventWaiter()
    async with BleSource([SensorTarget("sacrum", sensor.address, RAW_PLAN)],
                         **fast(scan_timeout_s=0.1), on_event=waiter) as src:
        it = aiter(src)
        await anext(it)
        await sensor.power_off()
        await waiter.wait("sacrum", "disconnected", "link lost")
        assert not src.connected("sacrum")
        await sensor.power_on()
        await waiter.wait("sacrum", "connected", count=2)
        k = sensor.packets_sent
        while seq_of((await anext(it)).payload) < k:
            pass


async def test_flood_fills_bounded_queue_and_counts_loss(radio):
    sensor = await radio.add_sensor(raw_spec("CNT-A"))
    async with BleSource([SensorTarget("sacrum", sensor.address, RAW_PLAN)], **fast(), queue_size=64) as src:
        await sensor.wait_sent(600)  # the consumer is "busy": nothing is read meanwhile
        stats = src.stats["sacrum"]
        queued = [seq_of(p.payload) for p in [src._queue.get_nowait() for _ in range(src._queue.qsize())]]
        assert queued == list(range(64))  # the oldest are kept, newer ones dropped
        assert stats.overflow_lost == stats.packets - 64 > 400
        k = sensor.packets_sent
        while seq_of((await anext(aiter(src))).payload) < k:  # and streaming goes on
            pass


async def test_cancel_disconnects_cleanly(radio):
    sensor = await radio.add_sensor(raw_spec("CNT-A"))
    started = asyncio.Event()

    async def consume() -> None:
        async with BleSource([SensorTarget("sacrum", sensor.address, RAW_PLAN)], **fast()) as src:
            async for _pkt in src:
                started.set()

    task = asyncio.get_running_loop().create_task(consume())
    await started.wait()
    task.cancel()  # what asyncio.run does on Ctrl-C
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not sensor.connected
    assert sensor.commands[-1] == STOP


# -- bad configuration ------------------------------------------------------------------------------
def test_same_placement_twice_is_a_one_line_error():
    targets = [SensorTarget("sacrum", "C0:00:00:00:00:01", RAW_PLAN),
               SensorTarget("sacrum", "C0:00:00:00:00:02", RAW_PLAN)]
    with pytest.raises(InputError) as err:
        BleSource(targets)
    assert "sacrum" in str(err.value) and "twice" in str(err.value) and "\n" not in str(err.value)


def test_unknown_placement_and_repeated_address_are_rejected():
    with pytest.raises(InputError, match="placement 'hip'"):
        BleSource([SensorTarget("hip", "C0:00:00:00:00:01", RAW_PLAN)])
    with pytest.raises(InputError, match="both sacrum and thoracic"):
        BleSource([SensorTarget("sacrum", "C0:00:00:00:00:01", RAW_PLAN),
                   SensorTarget("thoracic", "c0:00:00:00:00:01", RAW_PLAN)])


async def test_missing_sensor_is_a_clear_error(radio):
    with pytest.raises(InputError, match=r"sacrum: could not connect to C0:00:00:00:00:09"):
        async with BleSource([SensorTarget("sacrum", "C0:00:00:00:00:09", RAW_PLAN)],
                             **fast(scan_timeout_s=0.1)):
            pass
