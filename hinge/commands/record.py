"""`hinge record`: record a set to a crash-safe recording file (docs/ARCHITECTURE.md §4)."""

from __future__ import annotations

from pathlib import Path

from hinge import __version__
from hinge.analysis.report import plural
from hinge.commands._shared import (
    DEFAULT_PATH_HELP,
    EXERCISES,
    add_adapter_argument,
    add_fault_argument,
    add_swap_argument,
    check_duration,
    default_path,
    parse_faults,
    record_headless,
    settings_from_args,
)
from hinge.errors import UserError
from hinge.history import add_history_arguments, store_recording
from hinge.inputs import check_recording_out
from hinge.sensing.profiles import load as load_profile
from hinge.sensing.recording import Recorder, SensorInfo
from hinge.sensing.simsource import simulated_packets
from hinge.sensing.simulator import SimConfig, simulate_set
from hinge.sensing.types import OTHER_PLACEMENT, SENSORS, RawPacket
from hinge.userconfig import fill_sensor_options

HELP = "record a set from two sensors (or simulated ones) to a recording file"


def add_arguments(p) -> None:
    p.add_argument("--sacrum", metavar="ADDR", help="address of the sacrum sensor")
    p.add_argument("--thoracic", metavar="ADDR", help="address of the thoracic sensor")
    p.add_argument("--profile", help="firmware profile of the sensors (default: the settings file's, else hinge-ref)")
    p.add_argument("--rate", type=float, help="sample rate to configure, Hz (default: the profile's nominal)")
    p.add_argument("--exercise", choices=EXERCISES, default="unknown")
    p.add_argument("--label", default="", help="free text stored in the recording")
    p.add_argument("--out", help=f"recording file (.jsonl or .jsonl.gz); default: {DEFAULT_PATH_HELP}")
    p.add_argument("--simulate", action="store_true", help="record simulated sensors (no hardware)")
    p.add_argument("--reps", type=int, default=6, help="--simulate: reps in the set")
    p.add_argument("--seed", type=int, default=0, help="--simulate: random seed")
    add_fault_argument(p, prefix="--simulate: ")
    p.add_argument("--clean", action="store_true", help="--simulate: no faults at all (default: random faults)")
    p.add_argument("--emulated", action="store_true", help="record two emulated sensors over the emulated BLE link")
    add_adapter_argument(p)
    p.add_argument("--duration", type=float, metavar="S",
                   help="stop after S seconds (--simulate: record the first S seconds of the set)")
    add_swap_argument(p)
    add_history_arguments(p, athlete=True)


def run(args) -> int:
    fill_sensor_options(args)  # --athlete's (or the default) profile, rate and addresses where not given
    out = Path(args.out) if args.out else default_path(args.exercise, args.label)
    check_recording_out(out, "--out")  # before anything connects: `analyze` reads only these suffixes
    check_duration(args)
    if args.simulate:
        rc = _record_simulated(args, out)
    else:
        rc = _record_sensors(args, out)
    if rc == 0 and out.exists():
        store_recording(args, out, settings_from_args(args))
    return rc


def _record_sensors(args, out: Path) -> int:
    if not args.emulated and not (args.sacrum and args.thoracic):
        raise UserError("give --sacrum ADDR and --thoracic ADDR (see `hinge scan`), or --simulate / --emulated")
    return record_headless(args, out)


def _record_simulated(args, out: Path) -> int:

    exercise = args.exercise if args.exercise != "unknown" else "deadlift"
    profile = load_profile(args.profile)
    rate = float(args.rate or profile.nominal_hz)
    sim = simulate_set(
        SimConfig(
            exercise=exercise,
            reps=args.reps,
            seed=args.seed,
            faults={} if args.clean else parse_faults(args.fault),
            rates_hz={s: rate for s in SENSORS},
        )
    )
    packets = simulated_packets(sim, {s: profile for s in SENSORS})
    if args.swap:  # recorded under each other's placement
        packets = [RawPacket(p.t_host, OTHER_PLACEMENT[p.sensor], p.payload) for p in packets]
    reps = sim.truth["reps"]
    if args.duration is not None:  # the set as far as a recording of that length reaches
        packets = [p for p in packets if p.t_host <= args.duration]
        reps = [r for r in reps if r["end_s"] <= args.duration]
        if not packets:
            raise UserError(f"--duration {args.duration:g}: too short, no sample falls inside it")
    info = SensorInfo(profile.name, profile.raw_text, name="simulated", firmware="hinge simulator", rate_hz=rate)
    if not args.out:
        out.parent.mkdir(parents=True, exist_ok=True)
    label = args.label or f"SIMULATED {exercise} set, seed {args.seed}"
    with Recorder(
        out, sensors={s: info for s in SENSORS}, exercise=exercise, label=label, athlete=args.athlete,
        limits_deg=settings_from_args(args).limits.limits, app_version=__version__,
    ) as rec:
        for sensor in SENSORS:
            rec.write_event(0.0, "connected", sensor, "simulated")
        for pkt in packets:
            rec.write_packet(pkt)
        for sensor in SENSORS:
            rec.write_event(packets[-1].t_host, "disconnected", sensor, "end of set")
    print(f"recorded {out}: {len(packets)} packets, {plural(len(reps), f'simulated {exercise} rep')}")
    return 0
