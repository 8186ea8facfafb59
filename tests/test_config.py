"""Settings that stay (hinge/userconfig.py, `hinge config`): where the file is, each precedence level
(option > athlete > defaults > built-in), bad values and bad files, and the athlete and limits a recording
stores, round-tripped through `record`, the live session and `analyze` / `report`.

Every test gets its own settings folder through HINGE_CONFIG_DIR: none touches the user's home. Expected
verdicts come from the simulator's true per-rep values and the limits the test sets, never from hinge.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from hinge.analysis.faults import FaultLimits
from hinge.cli import build_parser, main
from hinge.sensing.csvio import write_csv
from hinge.sensing.profiles import load as load_profile
from hinge.sensing.recording import read_recording
from hinge.sensing.simulator import SimConfig
from hinge.sensing.types import SENSORS
from hinge.userconfig import config_dir, fill_sensor_options
from tests.conftest import simulated

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

LEAN = {"exercise": "swing", "reps": 4, "seed": 1, "faults": {"trunk_behind_vertical": 14.0}}
"""A set whose every top is about 14° behind vertical (the generator's parameter)."""
REC_RATE = load_profile("hinge-ref").nominal_hz  # what `record --simulate` uses without --rate
OLD_RECORDING = Path(__file__).resolve().parents[1] / "recordings" / "swing-trunk-behind-vertical.simulated.jsonl.gz"


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "config"
    monkeypatch.setenv("HINGE_CONFIG_DIR", str(d))
    return d


def hinge(argv, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def expected_trunk(truth_rep: dict, caution: float, fault: float) -> tuple[str | None, float | None]:
    """(severity, signed limit) of trunk_behind_vertical from the true top angle and magnitudes caution/fault.
    The true angle must sit well clear of both limits, so the analyzer's ~1° error cannot flip the verdict."""
    behind = -truth_rep["trunk_top_deg"]
    assert min(abs(behind - caution), abs(behind - fault)) > 1.5, "test set-up: truth too close to a limit"
    if behind >= fault:
        return "fault", -fault
    if behind >= caution:
        return "caution", -caution
    return None, None


def trunk_verdicts(result: dict) -> list[tuple[int, str | None, float | None]]:
    out = []
    for r in result["reps"]:
        f = [f for f in r["faults"] if f["kind"] == "trunk_behind_vertical"]
        out.append((r["index"], f[0]["severity"] if f else None, f[0]["limit_deg"] if f else None))
    return out


def judged(result: dict, truth: dict) -> list[tuple[dict, dict]]:
    pairs = [(ra, rt) for ra, rt in zip(result["reps"], truth["reps"], strict=True) if not ra["gap"]]
    assert pairs
    return pairs


@pytest.fixture(scope="module")
def lean_csv(tmp_path_factory):
    sim = simulated(SimConfig(**LEAN))
    p = tmp_path_factory.mktemp("lean") / "lean.csv"
    write_csv(p, sim.series)
    return p, sim.truth


# -- the folder and the file -------------------------------------------------------------------------------
def test_config_folder_per_platform_and_the_override():
    home = {"HOME": "/home/u"}
    assert config_dir(home, "linux") == Path("/home/u/.config/hinge")
    assert config_dir({**home, "XDG_CONFIG_HOME": "/x/cfg"}, "linux") == Path("/x/cfg/hinge")
    assert config_dir({"HOME": "/Users/u"}, "darwin") == Path("/Users/u/Library/Application Support/hinge")
    assert config_dir({"APPDATA": r"C:\Users\u\AppData\Roaming", "USERPROFILE": r"C:\Users\u"}, "win32") == Path(
        r"C:\Users\u\AppData\Roaming"
    ) / "hinge"
    for platform in ("linux", "darwin", "win32"):
        assert config_dir({**home, "HINGE_CONFIG_DIR": "/t/c"}, platform) == Path("/t/c")


def test_set_writes_toml_that_show_and_path_read_back(cfg, capsys):
    assert hinge(["config", "path"], capsys)[1].strip() == str(cfg / "settings.toml")
    assert not (cfg / "settings.toml").exists()  # `path` and `show` create nothing
    for argv in (["rate", "60"], ["profile", "movella-dot", "--athlete", "Anna K"],
                 ["limits.lumbar_rounding", "12,20", "--athlete", "Anna K"], ["sacrum", "AA:BB:CC:DD:EE:01"]):
        assert hinge(["config", "set", *argv], capsys)[0] == 0
    doc = tomllib.loads((cfg / "settings.toml").read_text())
    assert doc == {
        "defaults": {"rate": 60.0, "sacrum": "AA:BB:CC:DD:EE:01"},
        "athletes": {"Anna K": {"profile": "movella-dot", "limits": {"lumbar_rounding": "12,20"}}},
    }
    rc, out, _ = hinge(["config", "show", "--athlete", "Anna K"], capsys)
    rows = {ln.split("=")[0].strip(): ln.split("=", 1)[1].strip() for ln in out.splitlines() if "=" in ln}
    assert rc == 0
    assert rows["profile"] == "movella-dot  (athlete Anna K)"
    assert rows["rate"] == "60  (defaults)"
    assert rows["sacrum"] == "AA:BB:CC:DD:EE:01  (defaults)"
    assert rows["limits.lumbar_rounding"] == "12,20  (athlete Anna K)"
    assert rows["limits.trunk_behind_vertical"] == "5,10  (built-in)"
    rows = {ln.split("=")[0].strip(): ln.split("=", 1)[1].strip()
            for ln in hinge(["config", "show"], capsys)[1].splitlines() if "=" in ln}
    assert rows["profile"] == "hinge-ref  (built-in)" and rows["limits.lumbar_rounding"] == "15,25  (built-in)"
    assert hinge(["config", "unset", "rate"], capsys)[0] == 0
    assert "rate" not in tomllib.loads((cfg / "settings.toml").read_text())["defaults"]


# -- precedence ----------------------------------------------------------------------------------------------
def test_limits_precedence_option_over_athlete_over_defaults_over_builtin(cfg, lean_csv, capsys):
    path, truth = lean_csv
    analyze = ["analyze", path, "--json", "--no-history"]
    levels = [  # (what is set now, argv extra, trunk magnitudes the verdict must follow)
        (None, ["--athlete", "anna"], (5.0, 10.0)),  # no file: built-in
        (["limits.trunk_behind_vertical", "8,18"], ["--athlete", "anna"], (8.0, 18.0)),  # [defaults]
        (["limits.trunk_behind_vertical", "18,25", "--athlete", "anna"], ["--athlete", "anna"], (18.0, 25.0)),
        (None, ["--athlete", "bob"], (8.0, 18.0)),  # an athlete without a table of their own: [defaults]
        (None, ["--athlete", "anna", "--limit", "trunk_behind_vertical=3,11"], (3.0, 11.0)),  # the option
    ]
    seen = set()
    for setting, extra, (caution, fault) in levels:
        if setting:
            assert hinge(["config", "set", *setting], capsys)[0] == 0
        rc, out, err = hinge([*analyze, *extra], capsys)
        assert rc == 0, err
        result = json.loads(out)
        for ra, rt in judged(result, truth):
            want = expected_trunk(rt, caution, fault)
            got = trunk_verdicts({"reps": [ra]})[0][1:]
            assert got == want, (extra, ra["index"], got, want)
            seen.add(want)
        assert result["limits_deg"]["trunk_behind_vertical"] == [-caution, -fault]
    assert {s for s, _ in seen} == {"fault", "caution", None}  # the levels really give different verdicts


def test_an_athletes_table_overrides_kind_by_kind(cfg, lean_csv, capsys):
    """anna's trunk limits replace only that kind: the rounding limits of [defaults] still judge her reps."""
    path, truth = lean_csv
    assert all(rt["lumbar_flexion_max_deg"] > 3.5 for rt in truth["reps"])  # past the 1,2 set below
    hinge(["config", "set", "limits.lumbar_rounding", "1,2"], capsys)
    hinge(["config", "set", "limits.trunk_behind_vertical", "18,25", "--athlete", "anna"], capsys)
    rc, out, _ = hinge(["analyze", path, "--json", "--no-history", "--athlete", "anna"], capsys)
    for ra, _rt in judged(json.loads(out), truth):
        kinds = {f["kind"]: f for f in ra["faults"]}
        assert kinds["lumbar_rounding"]["severity"] == "fault" and kinds["lumbar_rounding"]["limit_deg"] == 2.0
        assert "trunk_behind_vertical" not in kinds


def _sensor_options(argv):
    args = build_parser(argv).parse_args(argv)
    fill_sensor_options(args)
    return {k: getattr(args, k) for k in ("profile", "rate", "sacrum", "thoracic")}


def test_sensor_settings_precedence_and_their_use(cfg, tmp_path, capsys):
    live = ["live", "--athlete", "anna"]
    assert _sensor_options(live) == {"profile": "hinge-ref", "rate": None, "sacrum": None, "thoracic": None}
    for argv in (["profile", "movesense"], ["rate", "52"], ["sacrum", "AA:00:00:00:00:01"],
                 ["thoracic", "AA:00:00:00:00:02"], ["profile", "movella-dot", "--athlete", "anna"],
                 ["rate", "30", "--athlete", "anna"], ["thoracic", "BB:00:00:00:00:02", "--athlete", "anna"]):
        assert hinge(["config", "set", *argv], capsys)[0] == 0
    assert _sensor_options(["live"]) == {
        "profile": "movesense", "rate": 52.0, "sacrum": "AA:00:00:00:00:01", "thoracic": "AA:00:00:00:00:02"}
    assert _sensor_options(live) == {
        "profile": "movella-dot", "rate": 30.0, "sacrum": "AA:00:00:00:00:01", "thoracic": "BB:00:00:00:00:02"}
    assert _sensor_options([*live, "--profile", "witmotion-bwt901ble", "--rate", "50", "--sacrum", "CC:1"]) == {
        "profile": "witmotion-bwt901ble", "rate": 50.0, "sacrum": "CC:1", "thoracic": "BB:00:00:00:00:02"}

    # live connects to the athlete's sensors (the BLE source is built, nothing connects yet)
    from hinge.commands._shared import make_source

    args = build_parser(live).parse_args(live)
    fill_sensor_options(args)
    assert make_source(args).addresses == {"sacrum": "AA:00:00:00:00:01", "thoracic": "BB:00:00:00:00:02"}

    # record uses them: the athlete's profile and rate end up in the recording's header
    out = tmp_path / "anna.jsonl"
    rc, _, err = hinge(["record", "--simulate", "--reps", "2", "--athlete", "anna", "--no-history", "--out", out],
                       capsys)
    assert rc == 0, err
    sensors = read_recording(out).header["sensors"]
    assert {s["profile"] for s in sensors.values()} == {"movella-dot"}
    assert {s["rate_hz"] for s in sensors.values()} == {30.0}


# -- bad values and bad files --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["rate", "-3"], "rate '-3': expected a sample rate in Hz"),
        (["rate", "fast"], "rate 'fast': expected a sample rate in Hz"),
        (["limits.trunk_behind_vertical", "12,8"], "beyond the fault limit"),
        (["limits.lumbar_rounding", "20"], "limits.lumbar_rounding '20': expected CAUTION,FAULT"),
        (["limits.lumbar_rounding", "-5,10", "--athlete", "anna"], "magnitudes"),
        (["profile", "movela-dot"], "profile 'movela-dot': no such profile; expected one of"),
        (["sacrum", "AA BB"], "sacrum 'AA BB': expected the sacrum sensor's address"),
        (["colour", "red"], "colour: unknown key; expected one of profile, rate"),
    ],
)
def test_a_bad_key_or_value_is_one_line_and_changes_nothing(cfg, capsys, argv, says):
    assert hinge(["config", "set", "rate", "60"], capsys)[0] == 0
    before = (cfg / "settings.toml").read_bytes()
    rc, out, err = hinge(["config", "set", *argv], capsys)
    assert rc == 2
    assert err.count("\n") == 1 and says in err and "Traceback" not in err, err
    assert (cfg / "settings.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[athletes.anna]\nrate = -1\n', "athletes.anna.rate = -1: expected a sample rate in Hz"),
        ('[defaults]\ncolour = "red"\n', "defaults.colour: unknown key"),
        ('[defaults.limits]\nlumbar_rounding = "25,15"\n', "defaults.limits.lumbar_rounding = '25,15': the caution"),
        ('[defaults]\nrate = [\n', "not valid TOML"),
        ('[sensors]\nrate = 60\n', "[sensors]: unknown table"),
    ],
)
def test_a_bad_settings_file_is_one_line_naming_file_and_key(cfg, lean_csv, capsys, text, says):
    cfg.mkdir()
    (cfg / "settings.toml").write_text(text)
    rc, _, err = hinge(["analyze", lean_csv[0], "--no-history", "--athlete", "anna"], capsys)
    assert rc == 2
    assert err.count("\n") == 1 and str(cfg / "settings.toml") in err and says in err, err


# -- the recording keeps the athlete and the limits ----------------------------------------------------------
@pytest.fixture(scope="module")
def anna_recording(tmp_path_factory):
    """`record --simulate` of the LEAN set by anna, whose settings say trunk 8,18 at the time."""
    d = tmp_path_factory.mktemp("rec")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HINGE_CONFIG_DIR", str(d / "config"))
        assert main(["config", "set", "limits.trunk_behind_vertical", "8,18", "--athlete", "anna"]) == 0
        out = d / "anna.jsonl"
        argv = ["record", "--simulate", "--exercise", "swing", "--reps", "4", "--seed", "1",
                "--fault", "trunk_behind_vertical=14", "--athlete", "anna", "--no-history", "--out", str(out)]
        assert main(argv) == 0
    truth = simulated(SimConfig(**LEAN, rates_hz={s: REC_RATE for s in SENSORS})).truth
    return out, truth


def test_the_recording_stores_the_athlete_and_the_limits_it_was_judged_by(anna_recording):
    header = read_recording(anna_recording[0]).header
    assert header["athlete"] == "anna"
    assert header["limits_deg"] == {"trunk_behind_vertical": [-8.0, -18.0], "posterior_pelvic_tilt": [-5.0, -10.0],
                                    "lumbar_hyperextension": [-5.0, -10.0], "lumbar_rounding": [15.0, 25.0]}


def test_analyze_judges_by_current_settings_and_shows_the_recorded_limits(cfg, anna_recording, capsys):
    path, truth = anna_recording
    hinge(["config", "set", "limits.trunk_behind_vertical", "3,11", "--athlete", "anna"], capsys)  # changed since

    rc, out, err = hinge(["analyze", path, "--json", "--no-history"], capsys)  # no --athlete: the recording's
    assert rc == 0, err
    result = json.loads(out)
    assert result["athlete"] == "anna"
    assert result["limits_deg"]["trunk_behind_vertical"] == [-3.0, -11.0]
    assert result["recorded_limits_deg"]["trunk_behind_vertical"] == [-8.0, -18.0]
    for ra, rt in judged(result, truth):
        assert trunk_verdicts({"reps": [ra]})[0][1:] == expected_trunk(rt, 3.0, 11.0)

    rc, out, _ = hinge(["analyze", path, "--json", "--no-history", "--limits-from-recording"], capsys)
    result = json.loads(out)
    assert result["limits_deg"] == result["recorded_limits_deg"]
    for ra, rt in judged(result, truth):
        assert trunk_verdicts({"reps": [ra]})[0][1:] == expected_trunk(rt, 8.0, 18.0)

    rc, out, _ = hinge(["analyze", path, "--no-history"], capsys)  # the table says who and by which limits
    assert "athlete: anna" in out
    assert "limits (caution/fault): trunk behind vertical 3/11°" in out
    assert "recorded with other limits: trunk behind vertical 8/18°" in out
    rc, out, _ = hinge(["analyze", path, "--no-history", "--limits-from-recording"], capsys)
    assert "trunk behind vertical 8/18°" in out and "(as recorded)" in out and "recorded with other" not in out


def test_report_shows_the_recorded_athlete(cfg, anna_recording, tmp_path, capsys):
    html = tmp_path / "r.html"
    rc, _, err = hinge(["report", anna_recording[0], "--html", html, "--no-history"], capsys)
    assert rc == 0, err
    text = html.read_text()
    assert "anna" in text


def test_a_batch_judges_each_set_by_its_own_athletes_settings(cfg, anna_recording, tmp_path, capsys):
    import pandas as pd

    path, truth = anna_recording
    bob = tmp_path / "bob.jsonl"  # the same set, recorded for bob
    rc, _, err = hinge(["record", "--simulate", "--exercise", "swing", "--reps", "4", "--seed", "1", "--fault",
                        "trunk_behind_vertical=14", "--athlete", "bob", "--no-history", "--out", bob], capsys)
    assert rc == 0, err
    hinge(["config", "set", "limits.trunk_behind_vertical", "3,11", "--athlete", "anna"], capsys)
    hinge(["config", "set", "limits.trunk_behind_vertical", "18,25", "--athlete", "bob"], capsys)
    table = tmp_path / "reps.csv"
    rc, _, err = hinge(["analyze", path, bob, "--table", table, "--jobs", "1", "--no-history"], capsys)
    assert rc == 0, err
    rows = pd.read_csv(table, keep_default_na=False)
    for athlete, (caution, fault) in (("anna", (3.0, 11.0)), ("bob", (18.0, 25.0))):
        mine = rows[rows["athlete"] == athlete]
        assert len(mine) == len(truth["reps"])
        for (_, row), rt in zip(mine.iterrows(), truth["reps"], strict=True):
            if row["gap"]:
                continue
            severity, _limit = expected_trunk(rt, caution, fault)
            have = [f.split(":")[1] for f in row["faults"].split(", ") if f.startswith("trunk_behind_vertical:")]
            assert have == ([severity] if severity else []), (athlete, row["rep"])


def test_the_live_session_writes_athlete_and_limits(tmp_path):
    from hinge.analysis.pipeline import Settings
    from hinge.session import Session
    from hinge.sources import simulated_source

    sim = simulated(SimConfig(**LEAN, rates_hz={s: 100.0 for s in SENSORS}))
    limits = FaultLimits().with_magnitudes("lumbar_rounding", 11.0, 21.0)
    out = tmp_path / "live.jsonl"
    session = Session(simulated_source(sim), settings=Settings(limits=limits), athlete="Anna K", record_to=out)
    session.close()
    header = read_recording(out).header
    assert header["athlete"] == "Anna K"
    assert header["limits_deg"]["lumbar_rounding"] == [11.0, 21.0]


def test_a_recording_from_before_the_fields_still_analyses(cfg, capsys):
    header = read_recording(OLD_RECORDING).header
    assert "athlete" not in header and "limits_deg" not in header  # what the test is about
    rc, out, err = hinge(["analyze", OLD_RECORDING, "--json", "--no-history"], capsys)
    assert rc == 0, err
    result = json.loads(out)
    assert result["athlete"] == "" and "recorded_limits_deg" not in result
    assert result["limits_deg"]["trunk_behind_vertical"] == [-5.0, -10.0]
    rc, _, err = hinge(["analyze", OLD_RECORDING, "--no-history", "--limits-from-recording"], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert str(OLD_RECORDING) in err and "--limits-from-recording: the file stores no limits" in err


def test_replay_judges_like_analyze(cfg, anna_recording, capsys):
    """replay follows analyze's rule: the current settings of the recording's athlete, or the recorded limits."""
    path, truth = anna_recording
    hinge(["config", "set", "limits.trunk_behind_vertical", "3,11", "--athlete", "anna"], capsys)
    for extra, (caution, fault) in (([], (3.0, 11.0)), (["--limits-from-recording"], (8.0, 18.0))):
        rc, out, err = hinge(["replay", path, "--terminal", "--speed", "0", *extra], capsys)
        assert rc == 0, err
        rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"^\s+(\d+)\s+[+-]\d.*$", out, re.M)}
        assert sorted(rows) == [r["index"] for r in truth["reps"]]
        for rt in truth["reps"]:
            severity, _ = expected_trunk(rt, caution, fault)
            found = re.search(r"trunk behind vertical \((\w+),", rows[rt["index"]])
            assert (found.group(1) if found else None) == severity, (extra, rt["index"], rows[rt["index"]])
