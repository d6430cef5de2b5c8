"""Per-minute wearable exports (heart rate, steps) with a vendor-style comment header."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twinlab.synth.population import quota

DEVICE_MODEL = "Kestrel Band 2"
VENDOR = "Kestrel Health"


def select_wearers(subjects: pd.DataFrame, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Mask of randomized subjects with a device: a ``fraction`` quota of them.

    Parameters
    ----------
    subjects
        The subject table.
    fraction
        Share of randomized subjects with a device.
    rng
        The ``wearables`` stream.
    """
    rand = np.flatnonzero(~subjects["screen_fail"].to_numpy())
    mask = np.zeros(len(subjects), dtype=bool)
    if fraction > 0 and len(rand):
        mask[rand[quota(rng, len(rand), fraction)]] = True
    return mask


def simulate_wearables(
    n: int, days: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-minute heart rate and steps for ``n`` devices over ``days`` days from local midnight.

    Steps follow a waking-hours activity profile; heart rate has a circadian rhythm, a sleep
    dip and rises with steps; one 30-60 minute charging gap a day has no heart rate.

    Returns
    -------
    tuple of numpy.ndarray
        Heart rate (float, NaN while charging), steps (int), both ``(n, days * 1440)``, and the
        device serial numbers.
    """
    minutes = days * 1440
    t = np.arange(minutes)
    hour = (t % 1440) / 60.0
    awake = (hour >= 6.5) & (hour < 23.0)
    activity = np.where(awake, 0.08 + 0.12 * np.exp(-0.5 * ((hour - 12.5) / 3.5) ** 2), 0.003)
    base = rng.normal(66, 7, n)[:, None]
    cadence = rng.uniform(70, 115, n)[:, None]
    walking = rng.random((n, minutes)) < activity[None, :]
    steps = np.where(walking, rng.poisson(cadence, (n, minutes)), 0)
    circadian = 6.0 * np.sin(2 * np.pi * (hour - 10.0) / 24.0)
    sleep = np.where(awake, 0.0, -8.0)
    hr = base + circadian + sleep + 0.25 * steps + rng.normal(0, 3, (n, minutes))
    hr = np.clip(np.round(hr), 38, 190)
    start = rng.integers(13 * 60, 17 * 60, (n, days))
    length = rng.integers(30, 61, (n, days))
    for d in range(days):
        day_t = t[None, :] - d * 1440
        gap = (day_t >= start[:, d : d + 1]) & (day_t < start[:, d : d + 1] + length[:, d : d + 1])
        hr[gap] = np.nan
        steps[gap] = 0
    serial = np.array([f"KB2-{v:08X}" for v in rng.integers(0, 2**32, n, dtype=np.uint64)])
    return hr, steps, serial


def write_wearables(
    subjects: pd.DataFrame,
    identities: pd.DataFrame,
    wearers: np.ndarray,
    days: int,
    folder: Path,
    rng: np.random.Generator,
) -> tuple[list[tuple[Path, int]], dict[str, str]]:
    """Write one CSV per device to ``folder/<serial>.csv``, from local midnight of day 1.

    Parameters
    ----------
    subjects, identities
        Subject and identity tables in the same order.
    wearers
        Mask from :func:`select_wearers`.
    days
        Days of data per device.
    folder
        Target folder, created if missing.
    rng
        The ``wearables`` stream.

    Returns
    -------
    tuple
        ``[(path, data rows)]`` and the map USUBJID -> device serial.
    """
    folder.mkdir(parents=True, exist_ok=True)
    idx = np.flatnonzero(wearers)
    hr, steps, serials = simulate_wearables(len(idx), days, rng)
    minutes = np.arange(days * 1440).astype("timedelta64[m]")
    written, serial_of = [], {}
    for k, i in enumerate(idx):
        sub = subjects.iloc[i]
        ident = identities.iloc[i]
        offset = sub["utc_offset"]
        start = np.datetime64(sub["day1_date"], "D").astype("datetime64[m]")
        stamps = np.datetime_as_string(start + minutes, unit="s")
        hr_text = np.where(np.isnan(hr[k]), "", np.nan_to_num(hr[k]).astype(np.int64).astype(str))
        body = "\n".join(
            f"{ts}{offset},{h},{s}"
            for ts, h, s in zip(stamps, hr_text, steps[k].tolist(), strict=True)
        )
        header = [
            f"# {VENDOR} data export",
            f"# device_model: {DEVICE_MODEL}",
            f"# serial_number: {serials[k]}",
            f"# account_holder: {ident['given']} {ident['family']}",
            f"# account_email: {ident['email']}",
            f"# timezone: UTC{offset}",
            "timestamp,heart_rate,steps",
        ]
        path = folder / f"{serials[k]}.csv"
        path.write_bytes(("\n".join(header) + "\n" + body + "\n").encode("utf-8"))
        written.append((path, len(stamps)))
        serial_of[sub["USUBJID"]] = str(serials[k])
    return written, serial_of
