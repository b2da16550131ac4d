"""Rendered images (WADO-RS /rendered, the viewer): one frame as PNG or JPEG, window/level.

Pure apart from the service call that fetches the bytes. Native (uncompressed) pixel data
renders with numpy; compressed transfer syntaxes render when pydicom has a decoder for
them, otherwise Invalid. Window/level follows PS3.3 C.11.2.1.2 (linear VOI LUT).
"""

from __future__ import annotations

import io
from typing import Any, overload

import numpy as np
from PIL import Image

from kura.errors import Invalid
from kura.imaging.instance import read_dataset

__all__ = ["render", "PRESETS"]

# Window presets the viewer offers: (center, width).
PRESETS = {"lung": (-600, 1500), "mediastinum": (50, 350), "bone": (400, 1800), "brain": (40, 80)}


@overload
def _first(value: Any, default: float) -> float: ...
@overload
def _first(value: Any, default: None = None) -> float | None: ...
def _first(value: Any, default: float | None = None) -> float | None:
    """A DS/IS element's (first) value as a number; `default` when absent or empty."""
    if value is None or value == "":
        return default
    if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        value = list(value)[0]
    return float(value)


def render(data: bytes, *, frame: int = 1, center: float | None = None, width: float | None = None,
           media_type: str = "image/png", quality: int = 90) -> bytes:
    """PNG or JPEG of frame `frame` (1-based) of a stored instance. Raises Invalid."""
    if media_type not in ("image/png", "image/jpeg"):
        raise Invalid("rendered media types are image/png and image/jpeg")
    ds = read_dataset(data)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 — no decoder, no pixel data
        raise Invalid(f"cannot render this instance: {type(exc).__name__}: {str(exc)[:120]}") from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if not 1 <= frame <= frames:
        raise Invalid(f"frame {frame} is outside 1..{frames}")
    if frames > 1:
        pixels = pixels[frame - 1]
    if samples == 3:
        image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    else:
        values = pixels.astype(np.float64) * _first(ds.get("RescaleSlope"), 1.0) + _first(
            ds.get("RescaleIntercept"), 0.0)
        c = center if center is not None else _first(ds.get("WindowCenter"))
        w = width if width is not None else _first(ds.get("WindowWidth"))
        if c is None or w is None or w < 1:
            low, high = float(values.min()), float(values.max())
            c, w = (low + high) / 2, max(high - low, 1.0)
        out = np.clip((values - (c - 0.5)) / (w - 1) + 0.5, 0.0, 1.0) * 255.0
        if ds.get("PhotometricInterpretation") == "MONOCHROME1":
            out = 255.0 - out
        image = Image.fromarray(out.astype(np.uint8), "L")
    buf = io.BytesIO()
    if media_type == "image/png":
        image.save(buf, format="PNG")
    else:
        image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
