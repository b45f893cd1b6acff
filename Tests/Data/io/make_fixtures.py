"""Makes the small reference files of Tests/Data/io (run from this folder).

Requires numpy; the NIfTI files are made with nibabel (`pip install nibabel`), which the
project itself does not depend on. Every array is small and deterministic, and the tests
(Tests/TensorTests/*Tests.swift) recompute the same values to compare.
"""
import gzip
import io
import struct

import numpy as np


def ramp(shape, dtype, scale=1, offset=0):
    n = int(np.prod(shape))
    return (np.arange(n) * scale + offset).astype(dtype).reshape(shape)


# --- NPY -----------------------------------------------------------------------------
np.save("f4_2x3.npy", ramp((2, 3), "<f4", 0.5, -1))
np.save("f8_be_3x2.npy", ramp((3, 2), ">f8", 0.25, 1).astype(">f8"))
np.save("f2_4.npy", np.array([1.5, -2.0, 65504.0, 5.960464477539063e-08], dtype="<f2"))
np.save("i2_fortran_2x3x4.npy", np.asfortranarray(ramp((2, 3, 4), "<i2", 1, -10)))
np.save("u1_5.npy", np.array([0, 1, 127, 128, 255], dtype="|u1"))
np.save("i1_4.npy", np.array([-128, -1, 0, 127], dtype="|i1"))
np.save("b1_2x2.npy", np.array([[True, False], [False, True]]))
np.save("u2_be_3.npy", np.array([0, 1, 65535], dtype=">u2"))
np.save("i4_3.npy", np.array([-2147483648, 0, 2147483647], dtype="<i4"))
np.save("u4_2.npy", np.array([0, 4294967295], dtype="<u4"))
np.save("i8_3.npy", np.array([-(2**40), 0, 2**40 + 1], dtype="<i8"))
np.save("u8_2.npy", np.array([0, 2**53], dtype="<u8"))
np.save("scalar.npy", np.array(3.25, dtype="<f4"))
np.save("empty_0x3.npy", np.zeros((0, 3), dtype="<f4"))
with open("v2_f4_2x2.npy", "wb") as f:
    np.lib.format.write_array(f, ramp((2, 2), "<f4"), version=(2, 0))
with open("v3_f4_3.npy", "wb") as f:
    np.lib.format.write_array(f, ramp((3,), "<f4", 2), version=(3, 0))

# --- NPZ -----------------------------------------------------------------------------
a = ramp((2, 3), "<f4", 0.5)
b = np.array([0, 1, 2, 255], dtype="u1")
c = np.asfortranarray(ramp((2, 3), "<i8", 3))
np.savez("stored.npz", a=a, b=b, c=c)
images = (ramp((6, 28, 28), "<i4", 7) % 256).astype("u1")
labels = (ramp((6, 1), "<i4", 3) % 10).astype("u1")
np.savez_compressed("medmnist_like.npz", train_images=images, train_labels=labels,
                    val_images=images[:2], val_labels=labels[:2])

# --- IDX -----------------------------------------------------------------------------
def idx(array, code):
    out = struct.pack(">BBBB", 0, 0, code, array.ndim)
    out += b"".join(struct.pack(">I", d) for d in array.shape)
    return out + array.tobytes()

idx_images = (ramp((3, 4, 5), "<i4", 11) % 256).astype("u1")
idx_labels = np.array([7, 0, 9], dtype="u1")
with gzip.open("mini-images-idx3-ubyte.gz", "wb") as f:
    f.write(idx(idx_images, 0x08))
with open("mini-labels-idx1-ubyte", "wb") as f:
    f.write(idx(idx_labels, 0x08))
with gzip.open("f64.idx.gz", "wb") as f:
    f.write(idx(ramp((2, 3), ">f8", 0.125, -0.5), 0x0E))

# --- NIfTI-1 -------------------------------------------------------------------------
try:
    import nibabel as nib
except ImportError:
    nib = None
if nib is not None:
    vol = ramp((4, 3, 2), "<i2", 3, -20)            # x=4, y=3, z=2, stored x fastest
    img = nib.Nifti1Image(vol, np.eye(4))
    img.header.set_data_dtype("<i2")
    img.header["scl_slope"] = 0.5
    img.header["scl_inter"] = -3
    nib.save(img, "i2_scaled_le.nii")

    vol_f = ramp((3, 2, 2), "<f4", 0.25, -1)
    img_f = nib.Nifti1Image(vol_f, np.eye(4))
    img_f.header.set_data_dtype("<f4")
    nib.save(img_f, "f4_plain.nii.gz")

    # The same int16 volume, big-endian.
    hdr_be = img.header.as_byteswapped(">")
    img_be = nib.Nifti1Image(vol.astype(">i2"), np.eye(4), header=hdr_be)
    img_be.header["scl_slope"] = 0.5
    img_be.header["scl_inter"] = -3
    nib.save(img_be, "i2_scaled_be.nii")

    vol_u = ramp((5, 4, 1), "u1", 1)
    img_u = nib.Nifti1Image(vol_u, np.eye(4))
    img_u.header.set_data_dtype("u1")
    nib.save(img_u, "u1_2d.nii.gz")
