"""The simulated sensor (`hinge.sensing.simulator`): how it sits on the skin (mounting), and how its true
specific force and angular velocity become samples: the device's sampling (instant, averaged or
low-passed), white noise, gyro bias and its random walk, scale errors, int16 quantisation and range,
clock drift, time offset and lost samples."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from hinge.sensing.movements import skin_mount
from hinge.sensing.simconfig import (
    SACRAL_SKIN_TILT_DEG,
    THORACIC_SKIN_TILT_DEG,
    G,
    SensorErrors,
    SimConfig,
)
from hinge.sensing.types import SensorSeries


def _mount(cfg: SimConfig, sensor: str, rng: np.random.Generator, rng_x: np.random.Generator):
    """Sensor → segment rotation and its generator parameters.

    "strapped": flat on the skin. The sensor's z axis lies along the outward skin normal (the
    segment's posterior direction tilted upward by the sacral slope, or by the kyphosis at the
    thoracic level), or along the inward normal when the sensor is put on face down; then any strap
    yaw about the normal."""
    if cfg.mounting == "random":
        mount = Rotation.random(random_state=rng.integers(2**31))
        return mount, {"mount_quat": mount.as_quat().tolist()}
    if cfg.mounting == "aligned":
        return Rotation.identity(), {"mount_quat": [0.0, 0.0, 0.0, 1.0]}
    if sensor == "sacrum":
        tilt = rng_x.uniform(*SACRAL_SKIN_TILT_DEG)
    else:
        lo, hi = THORACIC_SKIN_TILT_DEG
        tilt = lo + (hi - lo) * cfg.upper_level + rng_x.uniform(-3.0, 3.0)
    face_out = bool(rng_x.random() < 0.5)
    strap_yaw = rng_x.uniform(0.0, 360.0)
    mount = skin_mount(tilt, strap_yaw, face_out)
    return mount, {
        "mount_quat": mount.as_quat().tolist(),
        "skin_tilt_deg": float(tilt),
        "face_out": face_out,
        "strap_yaw_deg": float(strap_yaw),
    }


def _sample_sensor(
    sensor, t_fine, acc_true, gyr_true, rate_hz, err: SensorErrors, rng, dropout=None, mode="instant", stamps="device"
):
    """Sample one sensor at its own (drifting) clock, add sensor errors, drop samples. Also returns the
    clock's parameters: drift, residual offset, the true time of sample 0 and the counter's start."""
    ppm = rng.uniform(-err.clock_ppm, err.clock_ppm) * 1e-6
    offset = rng.uniform(-err.time_offset_s, err.time_offset_s)
    t0 = rng.uniform(0.0, 1.0 / rate_hz)
    n = int((t_fine[-1] - t0) * rate_hz * (1 + ppm)) - 1
    t_true = t0 + np.arange(n) / (rate_hz * (1 + ppm))
    acc = sample_signal(t_fine, acc_true, t_true, 1.0 / (rate_hz * (1 + ppm)), mode, rate_hz)
    gyr = sample_signal(t_fine, gyr_true, t_true, 1.0 / (rate_hz * (1 + ppm)), mode, rate_hz)
    # scale errors, bias + random walk, white noise
    acc = acc * (1 + rng.uniform(-err.acc_scale, err.acc_scale, 3))
    gyr = gyr * (1 + rng.uniform(-err.gyr_scale, err.gyr_scale, 3))
    bias = np.radians(rng.uniform(-err.gyr_bias_dps, err.gyr_bias_dps, 3))
    walk = np.cumsum(rng.normal(size=(n, 3)), axis=0) * np.radians(err.gyr_bias_walk_dps_rts) / np.sqrt(rate_hz)
    gyr = gyr + bias + walk
    acc = acc + rng.normal(size=(n, 3)) * err.acc_noise_ug_rthz * 1e-6 * G * np.sqrt(rate_hz / 2)
    gyr = gyr + rng.normal(size=(n, 3)) * np.radians(err.gyr_noise_dps_rthz) * np.sqrt(rate_hz / 2)
    # int16 quantisation over the full-scale range (and clipping)
    acc_lsb = err.acc_range_g * G / 32768.0
    gyr_lsb = np.radians(err.gyr_range_dps) / 32768.0
    acc = np.clip(np.round(acc / acc_lsb), -32768, 32767) * acc_lsb
    gyr = np.clip(np.round(gyr / gyr_lsb), -32768, 32767) * gyr_lsb
    # lost samples: singles and bursts
    keep = rng.random(n) >= err.lost_sample_prob
    duration_min = (t_true[-1] - t_true[0]) / 60.0
    n_bursts = rng.poisson(err.lost_bursts_per_min * duration_min) if err.lost_bursts_per_min > 0 else 0
    for _ in range(n_bursts):
        start = rng.uniform(t_true[0] + 4.0, t_true[-1] - 1.0) if t_true[-1] > 6 else t_true[-1] / 2
        length = rng.uniform(*err.lost_burst_s)
        keep &= ~((t_true >= start) & (t_true < start + length))
    if dropout is not None:
        keep &= ~((t_true >= dropout[0]) & (t_true < dropout[0] + dropout[1]))
    keep[0] = keep[-1] = True
    t_out = t_true + offset if stamps == "device" else (t0 + offset) + np.arange(n) / rate_hz
    idx = np.flatnonzero(keep)
    holes = []
    jumps = np.flatnonzero(np.diff(idx) > 1)
    for j in jumps:
        # the data hole: between the last kept sample and the next kept one, on the true time axis
        a, b = float(t_true[idx[j]]), float(t_true[idx[j + 1]])
        holes.append((a, b, (idx[j + 1] - idx[j] - 1) / (rate_hz * (1 + ppm))))
    clock = {"clock_ppm": ppm * 1e6, "time_offset_s": offset, "t0_s": t0, "counter_start_s": t0 + offset}
    return SensorSeries(sensor, t_out[keep], acc[keep], gyr[keep]), holes, idx, clock


def sample_signal(t_fine, x, t_s, period_s, mode="instant", rate_hz=None):
    """Sample the dense signal x (n, 3) on t_fine at the times t_s.

    "instant": the value at t_s (linear interpolation). "averaged": the mean over the sample period
    ending at t_s (from the cumulative trapezoid integral; clipped at the start of the signal).
    "lowpassed": a causal 2nd-order Butterworth low-pass at 0.25 × rate_hz, started at rest on the
    first value, then the value at t_s."""
    if mode == "lowpassed":
        from scipy.signal import butter, sosfilt, sosfilt_zi  # only here: scipy.signal costs ~1 s to import

        sos = butter(2, 0.25 * rate_hz, fs=1.0 / (t_fine[1] - t_fine[0]), output="sos")
        x = sosfilt(sos, x, axis=0, zi=sosfilt_zi(sos)[:, :, None] * x[0])[0]
    if mode != "averaged":
        return np.column_stack([np.interp(t_s, t_fine, x[:, i]) for i in range(x.shape[1])])
    area = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(0.5 * (x[1:] + x[:-1]) * np.diff(t_fine)[:, None], 0)])
    a = np.maximum(t_s - period_s, t_fine[0])
    width = t_s - a
    out = np.empty((len(t_s), x.shape[1]))
    for i in range(x.shape[1]):
        diff = np.interp(t_s, t_fine, area[:, i]) - np.interp(a, t_fine, area[:, i])
        out[:, i] = np.where(width > 0, diff / np.where(width > 0, width, 1.0), np.interp(t_s, t_fine, x[:, i]))
    return out


def _lost(s: SensorSeries) -> int:
    dt = np.diff(s.t)
    nominal = np.median(dt)
    return int(np.sum(np.maximum(np.round(dt / nominal) - 1, 0)))
