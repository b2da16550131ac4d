"""Compressed instances, stored byte for byte as received, still render (見読性, R49)."""

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import JPEG2000Lossless, RLELossless

from kura.imaging.render import render
from tests.support.imaging import make_dataset, part10


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "jpeg2000"])
def test_compressed_instances_render_like_the_uncompressed(syntax):
    plain = make_dataset(seed=3)
    packed = make_dataset(seed=3)
    packed.compress(syntax)
    assert packed.file_meta.TransferSyntaxUID == syntax
    want = np.asarray(Image.open(io.BytesIO(render(part10(plain), center=40, width=400))))
    got = np.asarray(Image.open(io.BytesIO(render(part10(packed), center=40, width=400))))
    assert got.shape == want.shape and np.array_equal(got, want)
