"""The start of a live session (issue 11): both sensors streaming at their configured rates, "bend forward
once" to check which sensor sits where, then a stand-still countdown, shown in the status (terminal and
window) — on a simulated live start paced on the injected clock.

The simulated set starts as a live one does (`SimConfig.first_dwell_s`): rep 1 is the placement bend, then a
5-s stand, then the set; the truth says when the bend ends and how many reps follow it.
"""

from __future__ import annotations

import asyncio
import io
import re

import pytest

from hinge.sensing.simulator import SimConfig
from hinge.session import Session
from hinge.sources import simulated_source
from hinge.terminal import TerminalView
from hinge.ui import YELLOW
from tests.conftest import FakeClock, simulated

RATES = {"sacrum": 100.0, "thoracic": 100.0}
START = SimConfig(exercise="deadlift", reps=4, seed=6, rates_hz=RATES, first_dwell_s=5.0,
                  faults={"trunk_behind_vertical": 14.0})


def run_paced(session: Session, clock: FakeClock, step_s: float = 0.25, on_step=None) -> None:
    """Run the session on the virtual clock, calling on_step() every step_s of clock time."""

    async def main():
        run = asyncio.ensure_future(session.run())
        while not run.done():
            await clock.run_until(clock.now() + step_s)
            if on_step is not None:
                on_step()
        await run

    asyncio.run(main())


def test_bend_then_countdown_then_the_set(tmp_path):
    sim = simulated(START)
    truth = sim.truth["reps"]
    clock = FakeClock(t=0.0)
    out = io.StringIO()
    session = Session(simulated_source(sim, clock=clock), clock=clock, placement_check=True,
                      record_to=tmp_path / "start.jsonl")
    view = TerminalView(session, out)
    seen: list[tuple[float, str | None, bool]] = []

    def step():
        st = session.status()
        seen.append((clock.now(), st.check, st.calibrated))
        view.update()

    run_paced(session, clock, on_step=step)
    texts = [c for _, c, _ in seen]
    # the phases in order: streaming, the bend asked for, the placement verdict with a countdown, then done
    first = {key: next(i for i, c in enumerate(texts) if c and key in c)
             for key in ("streaming", "bend forward once", "Stand still: 3 s", "Stand still: 1 s")}
    assert first["streaming"] < first["bend forward once"] < first["Stand still: 3 s"] < first["Stand still: 1 s"]
    assert texts[-1] is None
    countdown = [c for c in texts if c and "Stand still" in c]
    assert all(c.startswith("Placement ok (thoracic") for c in countdown)
    thoracic, sacrum = (float(x) for x in re.search(r"thoracic (\d+)°, sacrum (\d+)°", countdown[0]).groups())
    assert thoracic > sacrum  # the thoracic sensor inclined more, as placed
    assert thoracic == pytest.approx(truth[0]["depth_deg"], abs=8.0)  # about the bend's depth
    # the verdict comes once the bend is back up, within the rep's top dwell (the truth's timing)
    t_verdict = seen[first["Stand still: 3 s"]][0]
    assert truth[0]["bottom_s"] < t_verdict < truth[1]["start_s"]
    # the countdown runs on data time: 3 s → 1 s takes 2 s of standing (clock = data time at speed 1)
    t_one = seen[first["Stand still: 1 s"]][0]
    assert 1.75 <= t_one - t_verdict <= 2.5
    # the analysis starts after the bend: it is no rep; the set's reps and faults follow
    reps = session.reps
    assert len(reps) == len(truth) - 1
    assert all(any(f["kind"] == "trunk_behind_vertical" for f in r["faults"]) for r in reps)
    assert session.status().calibration == "ok"
    printed = out.getvalue()
    for line in ("bend forward once", "Stand still: 3 s", "Stand still: 2 s", "Stand still: 1 s"):
        assert line in printed
    assert "placement check: Placement ok" in (tmp_path / "start.jsonl").read_text()  # a marker in the recording


def test_swapped_sensors_show_in_the_check_and_the_swap_fixes_them():
    sim = simulated(START)
    clock = FakeClock(t=0.0)
    # strapped on each other's places: --swap here reads each stream as the other placement's
    session = Session(simulated_source(sim, clock=clock), clock=clock, placement_check=True, swap=True)
    seen: list[tuple[str | None, bool]] = []
    swapped_at: list[int] = []

    def step():
        st = session.status()
        seen.append((st.check, st.swap_suspected))
        if st.check and "Stand still" in st.check and not swapped_at:
            swapped_at.append(len(seen))
            session.swap_sensors()  # the window's button

    run_paced(session, clock, on_step=step)
    assert swapped_at
    verdict = seen[swapped_at[0] - 1]
    assert verdict[0].startswith("Sensors swapped? the sacrum sensor inclined") and verdict[1]
    st = session.status()
    assert not st.swap_suspected and not st.swapped  # --swap and the button cancel out: as the set was placed
    reps = session.reps
    assert len(reps) == len(sim.truth["reps"]) - 1
    assert all(any(f["kind"] == "trunk_behind_vertical" for f in r["faults"]) for r in reps)


def test_a_sensor_at_the_wrong_rate_is_reported(tmp_path):
    from hinge.sensing.replay import ReplaySource, packets_to_recording
    from hinge.sensing.simsource import simulated_packets
    from tests.conftest import HREF

    sim = simulated(START)
    profiles = {s: HREF for s in RATES}
    path = packets_to_recording(simulated_packets(sim, profiles), profiles, {"sacrum": 100.0, "thoracic": 200.0},
                                tmp_path / "rates.jsonl")  # the thoracic sensor was set to 200 Hz; it sends 100
    clock = FakeClock(t=0.0)
    session = Session(ReplaySource(path, clock=clock), clock=clock, placement_check=True)
    texts: list[str] = []
    run_paced(session, clock, on_step=lambda: texts.append(session.status().check or ""))
    bend = [t for t in texts if "bend forward once" in t]
    measured = re.search(r"thoracic streams at (\d+) Hz, not 200 Hz", bend[0])
    assert measured and 95 <= int(measured.group(1)) <= 105, bend[0]
    assert not any("sacrum streams" in t for t in texts)


def test_the_window_shows_the_check_and_its_countdown():
    from hinge.window import LiveWindow, application

    application()
    sim = simulated(START)
    source = simulated_source(sim, speed=None)
    session = Session(source, placement_check=True)
    win = LiveWindow(session, auto_refresh=False)
    win.show()
    shown = []
    for pkt in source.packets_before(float("inf")):
        session.ingest(pkt)
        st = session.status()
        if st.check and (not shown or shown[-1] != st.check):
            win.refresh()
            assert win.calibration_label.text() == st.check
            shown.append(st.check)
            if "Stand still: 2 s" in st.check:  # drawn: the calibrating yellow behind the countdown text
                img = win.grab().toImage()
                c = win.calibration_label.mapTo(win, win.calibration_label.rect().center())
                colours = {img.pixelColor(c.x() + dx, c.y() + dy).name() for dx in range(-80, 80, 4) for dy in (-8, 8)}
                assert YELLOW.lower() in colours
    assert any("bend forward once" in t for t in shown)
    assert [t.rsplit("Stand still: ", 1)[1][0] for t in shown if "Stand still" in t] == ["3", "2", "1"]
    session.finish()
    win.refresh()
    assert win.calibration_label.text().startswith("Calibrated")
    win.close()
