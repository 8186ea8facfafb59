"""What a session reads packets from: the `PacketSource` protocol, and `ControlledSource` for sources
that can pause, seek and change speed (docs/ARCHITECTURE.md §9).

Like python-can's bus interface, the protocol is small and every source implements it directly:

- `hinge.sensing.ble.BleSource`: two sensors over BLE (a bleak backend may be passed as ``backend=``).
- `hinge.sensing.replay.ReplaySource`: a recording paced on a clock; a `ControlledSource`.
- `hinge.sensing.replay.simulated_source`: a simulated set, written as a recording and paced by the same
  `ReplaySource` (one pacing implementation).

A source is an async context manager (entering connects, leaving disconnects) and an async iterator of
`RawPacket`. Link events (connected, disconnected, battery, marker) go to ``on_event``, which the consumer
sets before entering; each event has ``t_host``, ``sensor``, ``event`` and ``value``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from hinge.sensing.profiles import Profile
from hinge.sensing.recording import SensorInfo
from hinge.sensing.stream import SensorStream
from hinge.sensing.types import RawPacket

LinkCallback = Callable[[Any], None]
"""on_event(ev): ev.t_host (s, the packets' time base), ev.sensor, ev.event, ev.value."""


@runtime_checkable
class PacketSource(Protocol):
    """Async iterator of raw packets plus link events.

    kind: a short name for the window and logs ("ble", "replay", "simulated", "emulated").
    profiles, rates_hz, addresses: per placement, the firmware profile, the configured sample rate (Hz)
    and the device address; decoders and the recording header are built from them.
    """

    kind: str
    on_event: LinkCallback | None

    @property
    def profiles(self) -> Mapping[str, Profile]: ...

    @property
    def rates_hz(self) -> Mapping[str, float]: ...

    @property
    def addresses(self) -> Mapping[str, str]: ...

    async def __aenter__(self) -> PacketSource: ...

    async def __aexit__(self, *exc: object) -> None: ...

    def __aiter__(self) -> PacketSource: ...

    async def __anext__(self) -> RawPacket: ...

    async def aclose(self) -> None:
        """Stop the stream and disconnect; idempotent."""


@runtime_checkable
class ControlledSource(PacketSource, Protocol):
    """A source whose playback can be steered (loop thread only): a replay.

    speed: 1.0 real time, 2.0 twice as fast, None as fast as possible. position_s / duration_s:
    recording seconds. `seek` continues from the first packet at or after t_s.
    """

    @property
    def speed(self) -> float | None: ...

    @property
    def paused(self) -> bool: ...

    @property
    def position_s(self) -> float: ...

    @property
    def duration_s(self) -> float: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_speed(self, speed: float | None) -> None: ...

    def seek(self, t_s: float) -> None: ...


def make_streams(source: PacketSource) -> dict[str, SensorStream]:
    """A fresh decoder + timebase per placement of the source."""
    return {s: SensorStream(s, p, source.rates_hz[s]) for s, p in source.profiles.items()}


def sensor_info(source: PacketSource) -> dict[str, SensorInfo]:
    """What a recording header stores about each placement of the source."""
    return {s: SensorInfo(p.name, p.raw_text, source.addresses.get(s, ""), rate_hz=source.rates_hz[s])
            for s, p in source.profiles.items()}


class Tap:
    """A source passed through unchanged, with ``on_packet(pkt)`` called for every packet it releases
    (benches time releases, tests wait for the n-th packet). Not a `ControlledSource`."""

    def __init__(self, source: PacketSource, on_packet: Callable[[RawPacket], None]) -> None:
        self.source = source
        self.on_packet = on_packet
        self.kind = source.kind

    @property
    def on_event(self) -> LinkCallback | None:
        return self.source.on_event

    @on_event.setter
    def on_event(self, callback: LinkCallback | None) -> None:
        self.source.on_event = callback

    @property
    def profiles(self) -> Mapping[str, Profile]:
        return self.source.profiles

    @property
    def rates_hz(self) -> Mapping[str, float]:
        return self.source.rates_hz

    @property
    def addresses(self) -> Mapping[str, str]:
        return self.source.addresses

    async def __aenter__(self) -> Tap:
        await self.source.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.source.__aexit__(*exc)

    def __aiter__(self) -> Tap:
        return self

    async def __anext__(self) -> RawPacket:
        pkt = await self.source.__anext__()
        self.on_packet(pkt)
        return pkt

    async def aclose(self) -> None:
        await self.source.aclose()
