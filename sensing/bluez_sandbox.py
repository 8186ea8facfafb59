"""A private Bluetooth world on D-Bus for tests and benches: bleak's real BlueZ backend, no radio.

`BluezSandbox` starts, as separate processes stopped by pid:

* a private **system-style D-Bus bus** (`dbus-daemon` from Debian's `dbus` package, with a config
  file written here) — `DBUS_SYSTEM_BUS_ADDRESS` points at it for this process while it runs;
* **BlueZoo** (PyPI `bluezoo`, GPL-2.0, a user-space mock of BlueZ's D-Bus API) run from its own
  virtual environment (`ensure_bluezoo()`, a cache directory; never imported, never a dependency
  of this package), with two adapters (`hci0`, `hci1`: centrals) and `--scan-interval 1`;
* emulated sensors (`add_sensor`): `python -m hinge.sensing.bluez_peripheral`, each on a fresh adapter
  of its own (an address is one adapter in BlueZoo), created through BlueZoo's controller.

Synchronous API (subprocesses and pipes); waits are bounded and name what did not come up.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hinge.sensing.errors import InputError

BLUEZOO_VERSION = "1.0.2"
CENTRAL = "hci0"
"""The adapter the app's central uses in the sandbox (`--adapter hci0`)."""
START_TIMEOUT_S = 30.0
CONFIRM_WINDOW = 16
"""Notifications a sandbox sensor may have awaiting BlueZoo's Confirm() (flow control, so a fast
stream cannot flood the bus)."""

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <!-- a throw-away system-style bus: anyone may own any name and call anything -->
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
</busconfig>
"""


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hinge"


def bluezoo_python_ok() -> str | None:
    """The interpreter for BlueZoo's venv (Python >= 3.11), or None."""
    for name in (f"python3.{sys.version_info.minor}", "python3.13", "python3.12", "python3.11", "python3"):
        exe = shutil.which(name)
        if exe is None:
            continue
        out = subprocess.run([exe, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                             capture_output=True, text=True, timeout=30)
        if out.stdout.strip() == "True":
            return exe
    return None


def ensure_bluezoo(venv: Path | None = None) -> Path:
    """BlueZoo's executable in its own venv under the cache directory; created (pip) when missing.
    Safe for parallel callers (file lock). Raises InputError naming what is missing."""
    venv = venv or cache_dir() / f"bluezoo-{BLUEZOO_VERSION}"
    exe, done = venv / "bin" / "bluezoo", venv / ".installed"
    if done.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return exe
        python = bluezoo_python_ok()
        if python is None:
            raise InputError("BlueZoo needs Python >= 3.11; none found on PATH")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
        pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"bluezoo=={BLUEZOO_VERSION}"],
                             capture_output=True, text=True, timeout=600)
        if pip.returncode != 0 or not exe.exists():
            tail = (pip.stderr.strip().splitlines() or ["?"])[-1]
            raise InputError(f"pip install bluezoo=={BLUEZOO_VERSION} into {venv} failed: {tail}")
        done.touch()
    return exe


def dbus_daemon() -> str | None:
    return shutil.which("dbus-daemon")


@dataclass
class SandboxSensor:
    """A running emulated sensor (`hinge.sensing.bluez_peripheral` process)."""

    profile: str
    name: str
    address: str
    adapter: str
    proc: subprocess.Popen
    counters: dict = field(default_factory=dict)

    @property
    def device_path(self) -> str:
        """This sensor's device object on the central adapter."""
        return f"/org/bluez/{CENTRAL}/dev_{self.address.replace(':', '_')}"


class BluezSandbox:
    """Private D-Bus bus + BlueZoo (+ emulated sensors); context manager, everything stopped by pid."""

    def __init__(self, *, bluezoo: Path | None = None, scan_interval_s: int = 1) -> None:
        self._bluezoo = bluezoo
        self.scan_interval_s = scan_interval_s
        self.address = ""
        self._dir: tempfile.TemporaryDirectory | None = None
        self._procs: list[subprocess.Popen] = []
        self._saved_env: str | None = None
        self._next_adapter = 2
        self.sensors: list[SandboxSensor] = []

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> BluezSandbox:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        daemon = dbus_daemon()
        if daemon is None:
            raise InputError("dbus-daemon not found (Debian: apt-get install dbus)")
        bluezoo = self._bluezoo or ensure_bluezoo()
        self._dir = tempfile.TemporaryDirectory(prefix="hinge-bluez-")
        d = Path(self._dir.name)
        socket = d / "system_bus_socket"
        (d / "bus.conf").write_text(_BUS_CONFIG.format(socket=socket))
        bus = self._spawn([daemon, f"--config-file={d / 'bus.conf'}", "--nofork", "--nopidfile"], d / "dbus.log")
        self._wait(lambda: socket.exists(), "dbus-daemon socket", bus)
        self.address = f"unix:path={socket}"
        self._saved_env = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        zoo = self._spawn([str(bluezoo), "--auto-enable", f"--scan-interval={self.scan_interval_s}",
                           "-a", "00:00:5E:00:53:00", "-a", "00:00:5E:00:53:01"], d / "bluezoo.log")
        self._wait(lambda: "Adding adapter[1]" in self.log("bluezoo"), "BlueZoo with two adapters", zoo)

    def stop(self) -> None:
        for s in reversed(self.sensors):
            self.stop_sensor(s)
        for proc in reversed(self._procs):
            _terminate(proc)
        self._procs.clear()
        if self.address:
            if self._saved_env is None:
                os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
            else:
                os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self._saved_env
            self.address = ""
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    # -- sensors -------------------------------------------------------------------------------------
    def add_sensor(self, profile: str, name: str | None = None, *, extra: list[str] | None = None) -> SandboxSensor:
        """Start an emulated sensor of `profile` on a fresh adapter (unique address in this sandbox)."""
        return self.add_sensors([(profile, name)], extra=extra)[0]

    def add_sensors(self, sensors: list[tuple[str, str | None]], *,
                    extra: list[str] | None = None) -> list[SandboxSensor]:
        """Start emulated sensors ((profile, name) each; name None: from the profile) in parallel,
        each on a fresh adapter; returns once all advertise."""
        assert self._dir is not None, "sandbox not started"
        started = []
        for profile, name in sensors:
            n = self._next_adapter
            self._next_adapter += 1
            if n > 255:
                raise InputError("BlueZoo sandbox: out of adapter ids (255)")
            address = f"C0:DE:00:00:{n // 256:02X}:{n % 256:02X}"
            cmd = [sys.executable, "-m", "hinge.sensing.bluez_peripheral", "--profile", profile,
                   "--bluezoo-adapter", str(n), address, "--window", str(CONFIRM_WINDOW),
                   *(["--name", name] if name else []), *(extra or [])]
            log = Path(self._dir.name) / f"sensor-hci{n}.log"
            with open(log, "w") as err:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, preexec_fn=_die_with_parent,
                                        env={**os.environ, "PYTHONPATH": _project_root()})
            sensor = SandboxSensor(profile, name or "", address, f"hci{n}", proc)
            self.sensors.append(sensor)
            started.append(sensor)
        for sensor in started:
            if _readline(sensor.proc, START_TIMEOUT_S).strip() != "ready":
                self.stop_sensor(sensor)
                log = self.log(f"sensor-{sensor.adapter}").strip()
                raise InputError(f"emulated {sensor.profile} sensor on {sensor.adapter} did not start: {log[-300:]}")
        return started

    def stop_sensor(self, sensor: SandboxSensor) -> dict:
        """Stop a sensor (SIGTERM by pid) and return its counters (packets sent, commands, ...)."""
        if sensor.proc.poll() is None:
            sensor.proc.send_signal(signal.SIGTERM)
            try:
                out, _ = sensor.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                sensor.proc.kill()
                out, _ = sensor.proc.communicate()
            for line in reversed(out.splitlines()):
                with contextlib.suppress(ValueError):
                    sensor.counters = json.loads(line)
                    break
        if sensor in self.sensors:
            self.sensors.remove(sensor)
        return sensor.counters

    # -- helpers -------------------------------------------------------------------------------------
    def log(self, what: str) -> str:
        assert self._dir is not None
        path = Path(self._dir.name) / f"{what}.log"
        return path.read_text() if path.exists() else ""

    def _spawn(self, cmd: list[str], log: Path) -> subprocess.Popen:
        with open(log, "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                    preexec_fn=_die_with_parent)
        self._procs.append(proc)
        return proc

    def _wait(self, ok, what: str, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ok():
            if proc.poll() is not None:
                raise InputError(f"{what}: process exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise InputError(f"{what}: not up within {START_TIMEOUT_S:g} s")
            time.sleep(0.05)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux prctl
    PR_SET_PDEATHSIG), so a killed test run or bench leaves no bus or BlueZoo behind."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    """One stdout line of `proc` within `timeout` s ('' on timeout or exit)."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return proc.stdout.readline()


def _project_root() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    extra = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + extra if extra else "")
