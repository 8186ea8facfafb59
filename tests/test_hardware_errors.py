"""The hardware path as a new user meets it: no Bluetooth stack, a stack that refuses, missing Qt libraries.

The no-stack test is real: `hinge` runs in a subprocess whose system D-Bus address points at a socket
that does not exist (what a machine without BlueZ / D-Bus looks like to bleak's BlueZ backend). The
other stack failures are bleak's own exception types, built as each backend raises them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakDBusError, BleakError

from hinge.sensing.ble import BleSource

NO_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent"}
ADDRS = ["--sacrum", "AA:BB:CC:DD:EE:01", "--thoracic", "AA:BB:CC:DD:EE:02"]


def hinge(args: list[str], cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "hinge", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(
    "args",
    [["scan", "--timeout", "1"], ["live", *ADDRS, "--terminal"], ["live", *ADDRS, "--terminal", "--out", "x.jsonl"],
     ["record", *ADDRS]],
    ids=["scan", "live", "live-out", "record"],
)
def test_no_bluetooth_stack_is_one_line_exit_2_and_leaves_nothing(tmp_path, args):
    run = hinge(args, tmp_path, NO_BUS)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0].startswith(f"hinge {args[0]}: error: ") and "BlueZ" in lines[0] and "D-Bus" in lines[0]
    assert "start" in lines[0]  # says what to do
    assert run.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no recording, no recordings/ folder


@pytest.mark.parametrize(
    "exc, words",
    [
        (BleakBluetoothNotAvailableError("No powered Bluetooth adapters found.",
                                         BleakBluetoothNotAvailableReason.POWERED_OFF), ("off", "turn it on")),
        (BleakBluetoothNotAvailableError("No Bluetooth adapters found.",
                                         BleakBluetoothNotAvailableReason.NO_BLUETOOTH), ("no Bluetooth adapter",)),
        (BleakBluetoothNotAvailableError("auth", BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM),
         ("no permission",)),
        (BleakBluetoothNotAvailableError("denied", BleakBluetoothNotAvailableReason.DENIED_BY_USER),
         ("no permission",)),
        (BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["The name org.bluez was not provided"]),
         ("BlueZ is not running", "start")),
        (BleakDBusError("org.freedesktop.DBus.Error.AccessDenied", ["Rejected send message"]), ("no permission",)),
        (BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]), ("off", "turn it on")),
        (FileNotFoundError(2, "No such file or directory"), ("D-Bus", "BlueZ is not running")),
        (PermissionError(13, "Permission denied"), ("no permission",)),
        (BleakError("No powered Bluetooth adapters found."), ("off",)),
    ],
)
def test_each_backend_form_of_a_stack_failure_is_one_line_saying_what_to_do(exc, words):
    from hinge.sensing.ble_stack import stack_problem

    text = stack_problem(exc)
    assert text is not None and "\n" not in text
    for w in words:
        assert w in text


def test_a_sensor_failure_is_not_taken_for_a_stack_failure():
    from hinge.sensing.ble_stack import stack_problem

    assert stack_problem(BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"])) is None
    assert stack_problem(BleakError("Characteristic not found")) is None


def test_the_wait_for_an_absent_sensor_is_10_s_by_default():
    from inspect import signature

    from hinge.sensing.ble import FIND_TIMEOUT_S

    assert FIND_TIMEOUT_S == 10.0
    assert signature(BleSource).parameters["scan_timeout_s"].default == FIND_TIMEOUT_S


# -- Qt's system libraries ----------------------------------------------------------------------------
def test_missing_xcb_libraries_are_named_by_package_only_on_xcb():
    from hinge.ui import QT_XCB_LIBS, missing_qt_libs

    absent = {"xcb-icccm", "xcb-keysyms"}

    def find(lib: str) -> str | None:
        return None if lib in absent else f"lib{lib}.so"

    x11 = {"DISPLAY": ":0"}
    assert missing_qt_libs(x11, find) == ["libxcb-icccm4", "libxcb-keysyms1"]
    assert missing_qt_libs({**x11, "QT_QPA_PLATFORM": "xcb"}, find) == ["libxcb-icccm4", "libxcb-keysyms1"]
    assert missing_qt_libs({**x11, "QT_QPA_PLATFORM": "offscreen"}, find) == []
    assert missing_qt_libs({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, find) == []
    assert missing_qt_libs(x11, lambda lib: None) == list(QT_XCB_LIBS.values())
    assert "libxcb-cursor0" in QT_XCB_LIBS.values()  # Qt >= 6.5 needs it on X11


def _xcb_libs_missing_here() -> list[str]:
    """Debian packages of Qt's xcb dependencies this machine lacks, asked of the dynamic linker here."""
    import ctypes.util

    wanted = {"xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4", "xcb-keysyms": "libxcb-keysyms1"}
    return [pkg for lib, pkg in wanted.items() if ctypes.util.find_library(lib) is None]


@pytest.mark.skipif(not _xcb_libs_missing_here(), reason="this machine has all of Qt's xcb libraries")
def test_demo_without_qt_system_libraries_falls_back_to_the_terminal(tmp_path):
    """Where the libraries really are missing, Qt would abort the process (SIGABRT, exit -6) when the
    window is made; instead one line names the packages and the terminal view runs the set."""
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["DISPLAY"] = ":99"
    run = subprocess.run([sys.executable, "-m", "hinge", "demo", "--duration", "1"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and all(pkg in lines[0] for pkg in _xcb_libs_missing_here()), run.stderr
    assert "terminal view" in lines[0]
    assert "sacrum connected" in run.stdout  # the terminal view showed the session
