"""Synthetic, deterministic image phantoms for the demo (numpy only; nothing is downloaded).

Each function returns stored pixel values (uint16) for one slice or one projection. The CT
phantoms are built in Hounsfield units and stored with RescaleIntercept -1024, so the
viewer's window presets (lung, mediastinum, bone, brain) visibly change what is seen:
the lung window shows vessels in grey lungs, the mediastinal window the heart and aorta,
the bone window the spine, ribs and sternum, the brain window grey and white matter.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ct_chest", "ct_head", "mr_head", "cr_chest", "CT_INTERCEPT"]

CT_INTERCEPT = -1024


def _grid(rows: int, cols: int):
    y, x = np.mgrid[-1:1:rows * 1j, -1:1:cols * 1j]
    return y, x


def _ellipse(y, x, cy, cx, ry, rx, angle: float = 0.0):
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        x, y = (x - cx) * c + (y - cy) * s + cx, -(x - cx) * s + (y - cy) * c + cy
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _to_ct(hu: np.ndarray) -> np.ndarray:
    return np.clip(hu - CT_INTERCEPT, 0, 4095).astype(np.uint16)


def ct_chest(z: float, *, size: int = 256, seed: int = 0) -> np.ndarray:
    """One axial slice of a chest CT, z from 0 (lung apex) to 1 (diaphragm), in HU + 1024."""
    rng = np.random.default_rng(seed)
    y, x = _grid(size, size)
    hu = np.full((size, size), -1000.0)
    body_ry, body_rx = 0.56 + 0.04 * z, 0.80 + 0.06 * z
    hu[_ellipse(y, x, 0.05, 0, body_ry, body_rx)] = -100.0  # subcutaneous fat
    hu[_ellipse(y, x, 0.05, 0, body_ry - 0.05, body_rx - 0.05)] = 40.0  # muscle
    # Lungs grow from the apex to the base; the liver dome pushes the right lung up.
    grow = np.sin(np.pi / 2 * min(z / 0.75, 1.0)) ** 0.7
    for side in (-1, 1):
        shrink = max(0.0, (z - 0.8) / 0.2) * (0.9 if side < 0 else 0.5)
        scale = max(0.15, 0.35 + 0.65 * grow - shrink)
        lung = _ellipse(y, x, 0.02, side * 0.36, 0.40 * scale + 0.02, 0.27 * scale + 0.02, angle=side * 0.12)
        hu[lung] = -860.0
        # vessels: fixed tracks through the lung, drifting with z
        tracks = np.random.default_rng(7 + side).uniform(-1, 1, (18, 4))
        for cy, cx, dy, dx in tracks:
            vy = 0.02 + cy * 0.30 * scale + dy * 0.05 * z
            vx = side * 0.36 + cx * 0.20 * scale + dx * 0.05 * z
            r = 0.012 + 0.01 * (1 - abs(cx))
            hu[lung & _ellipse(y, x, vy, vx, r, r)] = 30.0
    if z < 0.45:  # trachea, then the two main bronchi
        hu[_ellipse(y, x, -0.12, 0, 0.05, 0.055)] = -1000.0
    elif z < 0.6:
        for side in (-1, 1):
            hu[_ellipse(y, x, -0.08, side * 0.09, 0.035, 0.035)] = -1000.0
    if 0.35 < z < 0.95:  # heart with contrast-filled chambers
        s = np.sin(np.pi * (z - 0.35) / 0.6)
        heart = _ellipse(y, x, 0.10, 0.10, 0.24 * s + 0.02, 0.28 * s + 0.02, angle=-0.5)
        hu[heart] = 55.0
        hu[heart & _ellipse(y, x, 0.12, 0.16, 0.12 * s, 0.10 * s)] = 180.0  # left ventricle
        hu[heart & _ellipse(y, x, 0.06, -0.02, 0.10 * s, 0.10 * s)] = 160.0  # right ventricle
    if z < 0.4:  # aortic arch and ascending aorta
        hu[_ellipse(y, x, -0.05, -0.06, 0.06, 0.06)] = 170.0
    hu[_ellipse(y, x, 0.30, 0.10, 0.055, 0.055)] = 170.0  # descending aorta
    if z > 0.8:  # liver dome under the right lung
        d = (z - 0.8) / 0.2
        liver = _ellipse(y, x, 0.05, -0.30, 0.30 * d + 0.02, 0.32 * d + 0.02)
        hu[liver & (hu < -500)] = 60.0
    # Spine: vertebral body (cortex and cancellous bone), canal, spinous process.
    hu[_ellipse(y, x, 0.45, 0, 0.095, 0.10)] = 700.0
    hu[_ellipse(y, x, 0.45, 0, 0.075, 0.08)] = 260.0
    hu[_ellipse(y, x, 0.585, 0, 0.04, 0.04)] = 15.0
    hu[(np.abs(x) < 0.025) & (y > 0.63) & (y < 0.72)] = 650.0
    if 0.15 < z < 0.85:  # sternum
        hu[_ellipse(y, x, -0.44, 0, 0.03, 0.07)] = 500.0
    # Ribs: short arcs just inside the chest wall, rotating a little with z.
    for i in range(9):
        for side in (-1, 1):
            t = 0.35 + i * 0.26 + 0.3 * z
            ry, rx = body_ry - 0.09, body_rx - 0.09
            cy, cx = 0.05 - ry * np.cos(t), side * rx * np.sin(t)
            hu[_ellipse(y, x, cy, cx, 0.028, 0.045, angle=side * t)] = 650.0
    hu += rng.normal(0.0, 10.0, hu.shape) * (hu > -950)
    return _to_ct(hu)


def _head(y, x, z: float):
    """Masks of a head at height z (0 skull base .. 1 vertex)."""
    s = np.sqrt(max(0.05, 1.0 - (2 * z - 0.6) ** 2 / 1.5))
    scalp = _ellipse(y, x, 0.02, 0, 0.86 * s, 0.70 * s)
    skull = _ellipse(y, x, 0.02, 0, 0.81 * s, 0.65 * s)
    brain = _ellipse(y, x, 0.02, 0, 0.75 * s, 0.59 * s)
    white = _ellipse(y, x, 0.02, 0, 0.55 * s, 0.42 * s)
    vent = np.zeros_like(brain)
    if 0.3 < z < 0.75:
        v = np.sin(np.pi * (z - 0.3) / 0.45)
        for side in (-1, 1):
            vent |= _ellipse(y, x, -0.05, side * 0.08, 0.22 * v, 0.06 * v, angle=side * 0.25)
    return scalp, skull, brain, white & brain, vent & brain


def ct_head(z: float, *, size: int = 256, seed: int = 0) -> np.ndarray:
    """One axial slice of a head CT in HU + 1024 (for the brain window W80/L40)."""
    rng = np.random.default_rng(seed)
    y, x = _grid(size, size)
    scalp, skull, brain, white, vent = _head(y, x, z)
    hu = np.full((size, size), -1000.0)
    hu[scalp] = 30.0
    hu[skull] = 1200.0
    hu[brain] = 40.0  # grey matter
    hu[white] = 28.0
    hu[vent] = 8.0  # cerebrospinal fluid
    hu += rng.normal(0.0, 3.0, hu.shape) * (hu > -950)
    return _to_ct(hu)


def mr_head(z: float, *, size: int = 256, seed: int = 0) -> np.ndarray:
    """One axial T1-weighted-looking slice of a head MR (unsigned, 0..1000)."""
    rng = np.random.default_rng(seed)
    y, x = _grid(size, size)
    scalp, skull, brain, white, vent = _head(y, x, z)
    v = np.zeros((size, size))
    v[scalp] = 880.0  # scalp fat is bright on T1
    v[skull] = 60.0  # cortical bone has no signal
    v[brain] = 420.0
    v[white] = 620.0
    v[vent] = 120.0
    v += rng.normal(0.0, 12.0, v.shape) * (v > 0)
    return np.clip(v, 0, 1000).astype(np.uint16)


def cr_chest(*, rows: int = 320, cols: int = 288, seed: int = 0) -> np.ndarray:
    """A PA chest radiograph (12-bit, MONOCHROME2: bone and soft tissue bright, lungs dark)."""
    rng = np.random.default_rng(seed)
    y, x = _grid(rows, cols)
    v = np.full((rows, cols), 150.0)
    body = np.abs(x) < 0.86 - 0.1 * np.clip(-y - 0.6, 0, 1)
    v[body] = 2300.0
    for side in (-1, 1):
        lung = _ellipse(y, x, 0.05, side * 0.40, 0.62, 0.30, angle=-side * 0.08) & (y < 0.55 - 0.2 * (side < 0))
        v[lung] = 900.0 + 500.0 * np.clip((y[lung] + 0.6) / 1.4, 0, 1)
        for i in range(9):  # posterior ribs: bright arcs across the lung fields
            cy = -0.62 + i * 0.14
            arc = np.abs(y - (cy + 0.25 * (x * side - 0.4) ** 2)) < 0.025
            v[arc & lung] += 700.0
        clavicle = np.abs(y - (-0.70 + 0.15 * np.abs(x))) < 0.03
        v[clavicle & (np.abs(x) < 0.75) & (np.abs(x) > 0.08) & (np.sign(x) == side)] = 3300.0
    v[(np.abs(x) < 0.07)] = np.maximum(v[(np.abs(x) < 0.07)], 2900.0)  # spine behind the mediastinum
    v[_ellipse(y, x, 0.30, 0.10, 0.32, 0.30)] = 2700.0  # heart shadow
    v[_ellipse(y, x, -0.42, 0.06, 0.10, 0.09)] = 2750.0  # aortic knob
    v += rng.normal(0.0, 40.0, v.shape)
    return np.clip(v, 0, 4095).astype(np.uint16)
