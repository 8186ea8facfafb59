"""One private D-Bus bus + BlueZoo per test session (per xdist worker; the BlueZ tests share the
`bluez` xdist group, so one worker runs them all). Skipped, with one line, only where D-Bus cannot
run at all (no `dbus-daemon`)."""

from __future__ import annotations

import pytest

from hinge.sensing.bluez_sandbox import BluezSandbox, dbus_daemon


@pytest.fixture(scope="session")
def sandbox():
    if dbus_daemon() is None:
        pytest.skip("dbus-daemon not found: BlueZ tests need Debian's dbus package (apt-get install dbus)")
    with BluezSandbox() as sb:
        yield sb


@pytest.fixture
def bluez(sandbox):
    """The session's sandbox; sensors a test started are stopped after it."""
    before = list(sandbox.sensors)
    yield sandbox
    for sensor in [s for s in sandbox.sensors if s not in before]:
        sandbox.stop_sensor(sensor)
