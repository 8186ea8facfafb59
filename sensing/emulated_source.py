"""`EmulatedSource`: the BLE source over the emulated radio (`hinge.sensing.emulated`) streaming a simulated set.

bleak is not patched: the radio's backend classes go to `BleSource` as bleak's own ``backend=``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from hinge.sensing.ble import BleSource, SensorTarget
from hinge.sensing.emulated import EmulatedRadio, SensorSpec
from hinge.sensing.profiles import Profile
from hinge.sensing.simulator import SimulatedSet
from hinge.sensing.types import SENSORS, RawPacket


class EmulatedSource(BleSource):
    """The BLE path end to end with no radio: two emulated sensors stream a simulated set as real packet
    bytes and `BleSource` connects to them through bleak, with the radio's backend passed as bleak's
    ``backend=``.

    The emulated sensors run in real time (`speed` 1.0) on the loop; each sensor's device clock starts
    when it starts streaming, so each one plays the simulated set from the moment its first packet
    is made, aligned to the first sensor's start. The stream ends `tail_s` after the set.
    """

    kind = "emulated"

    def __init__(self, sim: SimulatedSet, profile: Profile, *, speed: float = 1.0, tail_s: float = 0.5,
                 **ble_kwargs: Any) -> None:
        self.sim = sim
        self.speed_factor = speed
        self.end_s = max(float(s.t[-1]) for s in sim.series.values()) + tail_s
        targets = [SensorTarget(s, f"C0:00:00:00:00:{k + 1:02X}", profile, sim.rates_hz[s])
                   for k, s in enumerate(SENSORS)]
        kw: dict[str, Any] = dict(silence_timeout_s=None, start_timeout_s=3.0, scan_timeout_s=5.0)
        kw.update(ble_kwargs)
        super().__init__(targets, **kw)
        self._targets = targets
        self.radio: EmulatedRadio | None = None
        self._origin: float | None = None

    def _motion(self, sensor: str) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        series, idx, rate = self.sim.series[sensor], self.sim.index[sensor], self.sim.rates_hz[sensor]
        dense = np.arange(int(idx[-1]) + 1)
        acc = np.column_stack([np.interp(dense, idx, series.acc[:, j]) for j in range(3)])
        gyr = np.column_stack([np.interp(dense, idx, series.gyr[:, j]) for j in range(3)])
        offset: list[float] = []
        loop = asyncio.get_running_loop()

        def motion(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if not offset:  # first packet of this sensor: align its device clock to the set's time
                now = loop.time()
                if self._origin is None:
                    self._origin = now - float(t[0]) / self.speed_factor
                offset.append((now - self._origin) * self.speed_factor - float(t[0]))
            k = np.clip(np.rint((t + offset[0]) * rate).astype(int), 0, len(dense) - 1)
            return acc[k], gyr[k]

        return motion

    async def __aenter__(self) -> EmulatedSource:
        self.radio = EmulatedRadio(speed=self.speed_factor)
        await self.radio.__aenter__()
        try:
            for target in self._targets:
                s = target.placement
                spec = SensorSpec.from_profile(self.profiles[s], name=f"hinge-{s}", motion=self._motion(s))
                await self.radio.add_sensor(spec, address=target.address)
            self.backend, self.scanner_backend = self.radio.client_type(), self.radio.scanner_type()
            await super().__aenter__()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __anext__(self) -> RawPacket:
        pkt = await super().__anext__()
        if pkt.t_host > self.end_s:
            raise StopAsyncIteration
        return pkt

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self.radio is not None:
                radio, self.radio = self.radio, None
                await radio.close()
