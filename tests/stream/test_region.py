"""Region selection from the Sequence of Ultrasound Regions, and the acquisition kind."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from echostream.stream.frame import AcquisitionKind
from echostream.stream.sources.region import acquisition_kind, select_region


def item(x0: int, y0: int, x1: int, y1: int, data_type: int = 1, fmt: int = 1) -> Dataset:
    ds = Dataset()
    ds.RegionSpatialFormat = fmt
    ds.RegionDataType = data_type
    ds.RegionLocationMinX0, ds.RegionLocationMinY0 = x0, y0
    ds.RegionLocationMaxX1, ds.RegionLocationMaxY1 = x1, y1
    return ds


def test_picks_largest_2d_tissue_region_among_several() -> None:
    regions = [
        item(0, 400, 799, 599, data_type=3, fmt=3),  # spectral Doppler strip, larger
        item(100, 50, 299, 199),  # small tissue
        item(300, 40, 699, 389),  # large tissue
    ]
    region, notes = select_region(regions, rows=600, cols=800)
    assert region is not None and notes == []
    assert (region.x0, region.y0, region.x1, region.y1) == (300, 40, 700, 390)
    assert region.origin == "dicom" and region.data_type == "tissue"


def test_colour_flow_region_used_when_no_tissue_region() -> None:
    region, _ = select_region([item(10, 10, 109, 89, data_type=2)], rows=100, cols=120)
    assert region is not None and region.data_type == "color" and region.x1 == 110


def test_small_overshoot_is_clamped() -> None:
    region, notes = select_region([item(0, 5, 324, 241)], rows=240, cols=320)
    assert region is not None
    assert (region.x0, region.y0, region.x1, region.y1) == (0, 5, 320, 240)
    assert "clamped" in notes[0]


def test_region_outside_image_is_ignored() -> None:
    region, notes = select_region([item(500, 500, 600, 600)], rows=240, cols=320)
    assert region is None and any("outside" in n for n in notes)


def test_no_2d_region() -> None:
    region, notes = select_region([item(0, 0, 99, 99, data_type=3, fmt=3)], rows=100, cols=100)
    assert region is None and notes
    assert select_region(None, rows=10, cols=10) == (None, [])


@pytest.mark.parametrize(
    ("regions", "image_type", "kind"),
    [
        ([item(0, 0, 9, 9)], None, AcquisitionKind.BMODE),
        ([item(0, 0, 9, 9), item(0, 10, 9, 19, 3, 3)], None, AcquisitionKind.DOPPLER),
        ([item(0, 0, 9, 9), item(0, 10, 9, 19, 4, 3)], None, AcquisitionKind.DOPPLER),
        ([item(0, 0, 9, 9), item(0, 10, 9, 19, 1, 2)], None, AcquisitionKind.MMODE),
        ([item(0, 0, 9, 9), item(2, 2, 7, 7, 2, 1)], None, AcquisitionKind.COLOR),
        (None, ["ORIGINAL", "PRIMARY", "", "0001"], AcquisitionKind.BMODE),
        (None, ["ORIGINAL", "PRIMARY", "", "0002"], AcquisitionKind.MMODE),
        (None, ["ORIGINAL", "PRIMARY", "", "0008"], AcquisitionKind.DOPPLER),
        (None, ["ORIGINAL", "PRIMARY", "", "0011"], AcquisitionKind.COLOR),
        (None, ["ORIGINAL", "PRIMARY"], AcquisitionKind.UNKNOWN),
        ([item(0, 0, 9, 9)], ["DERIVED", "PRIMARY", "", "0010"], AcquisitionKind.COLOR),
    ],
)
def test_acquisition_kind(regions, image_type, kind: AcquisitionKind) -> None:  # type: ignore[no-untyped-def]
    assert acquisition_kind(regions, image_type) is kind
