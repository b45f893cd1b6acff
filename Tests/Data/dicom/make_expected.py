"""Copies the DICOM test files below from pydicom's wheel into this folder and saves pydicom's
reading of each as NAME.npy, the reference the tests compare smia-lua's reader with.

Run once, by hand, when the list changes (the tests need neither Python nor network):

    python3 -m venv /tmp/dicom-venv
    /tmp/dicom-venv/bin/pip install pydicom==3.0.2 numpy pylibjpeg==2.1.0 \
        pylibjpeg-libjpeg==2.5.0 pylibjpeg-openjpeg==2.6.0 pylibjpeg-rle==2.2.0
    /tmp/dicom-venv/bin/python Tests/Data/dicom/make_expected.py

pydicom decodes the compressed files with pylibjpeg's plugins (libjpeg for JPEG and JPEG-LS,
OpenJPEG for JPEG 2000, pylibjpeg-rle for RLE): decoders independent of GDCM's JPEG and RLE
code. What is saved:
- NAME.npy: `pixel_array` (colour as RGB, pydicom's default), with Rescale Slope and Intercept
  applied when the file has them (value * slope + intercept in float64), shaped (frames, rows,
  columns) for gray and (frames, rows, columns, 3) for colour; in the smallest integer type that
  holds every value exactly (to keep the files small), else float32;
- NAME.window.npy for the small files with a VOI window: the first frame through the file's
  first window, clip((x - (center - width / 2)) / width, 0, 1), float32, as C x H x W (the
  formula smia.image.window uses); CT_small.window.npy the same with the soft-tissue window
  (center 40, width 400), which the file does not carry.
"""
import os
import shutil

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> how it is compared (the tests read the same table from README.md's list)
FILES = {
    # uncompressed
    "CT_small.dcm": "exact",            # CT, int16, Rescale Intercept -1024
    "MR_small.dcm": "exact",            # MR, int16, window 600/1600
    "MR_small_bigendian.dcm": "exact",  # explicit VR big endian
    "MR_small_implicit.dcm": "exact",   # implicit VR little endian
    "image_dfl.dcm": "exact",           # deflated explicit VR little endian
    "rtdose.dcm": "exact",              # 15 frames of uint32
    "liver_1frame.dcm": "exact",        # 1 bit per pixel (a segmentation)
    "SC_ybr_full_422_uncompressed.dcm": "ybr",  # YBR_FULL_422 converted to RGB
    # lossless compression
    "MR_small_RLE.dcm": "exact",
    "SC_rgb_rle_2frame.dcm": "exact",   # RGB, 2 frames, RLE
    "MR_small_jp2klossless.dcm": "exact",
    "MR_small_jpeg_ls_lossless.dcm": "exact",
    "SC_rgb_jpeg_gdcm.dcm": "exact",    # JPEG lossless (process 14, selection value 1), RGB
    # lossy compression
    "693_J2KI.dcm": "lossy",            # CT, JPEG 2000, intercept -1024, window 40/100
    "SC_rgb_jpeg_dcmtk.dcm": "lossy",   # JPEG baseline, YBR_FULL
    "SC_rgb_dcmtk_+eb+cy+np.dcm": "lossy",  # JPEG baseline, YBR_FULL_422 (subsampled chroma)
    "JPGExtended.dcm": "lossy",         # JPEG extended, 12 bits
    "JPEGLSNearLossless_16.dcm": "lossy",
}

# Files the reader must refuse with a clear error (copied, no .npy).
REFUSED = [
    "MR_truncated.dcm",                          # pixel data cut short
    "JPEG2000-embedded-sequence-delimiter.dcm",  # corrupt JPEG 2000 code stream
    "rtplan.dcm",                                # no pixel data
    "SC_rgb_rle_16bit.dcm",                      # 16-bit RGB RLE, which GDCM 3.0 decodes wrongly
    "rtdose_1frame.dcm",                         # trips an assertion inside GDCM 3.0
]


def expected(ds):
    arr = ds.pixel_array
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel)
    if frames == 1:
        arr = arr[np.newaxis]
    values = arr.astype(np.float64)
    if samples == 1 and ("RescaleSlope" in ds or "RescaleIntercept" in ds):
        values = values * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    # As the reader rounds: once, to float32.
    return values.astype(np.float32).astype(np.float64)


def compact(values):
    """The values in the smallest integer type that holds them all exactly, else float32."""
    if np.all(values == np.round(values)):
        for kind in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32):
            info = np.iinfo(kind)
            if values.min() >= info.min and values.max() <= info.max:
                return values.astype(kind)
    return values.astype(np.float32)


def windowed(frame, center, width):
    image = frame[np.newaxis] if frame.ndim == 2 else np.moveaxis(frame, -1, 0)
    return np.clip((image.astype(np.float64) - (center - width / 2)) / width, 0, 1).astype(np.float32)


def first(value):
    return float(value[0]) if isinstance(value, pydicom.multival.MultiValue) else float(value)


def main():
    for name in list(FILES) + REFUSED:
        shutil.copyfile(get_testdata_file(name), os.path.join(HERE, name))
    for name in FILES:
        ds = pydicom.dcmread(os.path.join(HERE, name))
        values = expected(ds)
        stem = name[: -len(".dcm")]
        np.save(os.path.join(HERE, stem + ".npy"), compact(values))
        if "WindowCenter" in ds and "WindowWidth" in ds and values[0].size <= 64 * 64:
            shown = windowed(values[0], first(ds.WindowCenter), first(ds.WindowWidth))
            np.save(os.path.join(HERE, stem + ".window.npy"), shown)
        if name == "CT_small.dcm":
            np.save(os.path.join(HERE, stem + ".window.npy"), windowed(values[0], 40, 400))
        print(name, values.shape, ds.file_meta.TransferSyntaxUID.name, FILES[name])


if __name__ == "__main__":
    main()
