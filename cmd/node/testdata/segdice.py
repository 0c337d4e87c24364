#!/usr/bin/python3
"""Independent check of a SEG against IRCAD masks, with pydicom and numpy only.

Usage: segdice.py SEG.dcm PATIENT_DICOM MASKS_DICOM

Reads the CT slices and the masks, orders each by ImagePositionPatient along
the slice normal, maps every SEG frame to its CT slice through the
ReferencedSOPInstanceUID of its DerivationImageSequence (and checks its
PlanePosition agrees), unpacks the 1-bit frames least significant bit first
(PS3.5 8.1.1), and prints JSON: voxel counts and the Dice of segment 1
(Liver) against the liver mask and of segment 2 (Liver tumor) against the
union of the livertumor* masks.
"""
import json
import os
import sys

import numpy as np
import pydicom


def read_sorted(folder):
    dss = [pydicom.dcmread(os.path.join(folder, f)) for f in os.listdir(folder)]
    iop = np.array(dss[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    dss.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, dtype=float), normal)))
    return dss


def main(seg_path, ct_dir, masks_dir):
    ct = read_sorted(ct_dir)
    z_of = {d.SOPInstanceUID: z for z, d in enumerate(ct)}
    ipp = [np.array(d.ImagePositionPatient, dtype=float) for d in ct]
    rows, cols = int(ct[0].Rows), int(ct[0].Columns)

    liver = np.stack([d.pixel_array > 0 for d in read_sorted(os.path.join(masks_dir, "liver"))])
    tumor = np.zeros_like(liver)
    for name in sorted(os.listdir(masks_dir)):
        if name.startswith("livertumor"):
            tumor |= np.stack([d.pixel_array > 0 for d in read_sorted(os.path.join(masks_dir, name))])

    ds = pydicom.dcmread(seg_path)
    n = int(ds.NumberOfFrames)
    bits = np.unpackbits(np.frombuffer(ds.PixelData, dtype=np.uint8), bitorder="little")[: n * rows * cols]
    frames = bits.reshape(n, rows, cols).astype(bool)
    pred = {1: np.zeros_like(liver), 2: np.zeros_like(liver)}
    errors = []
    for i, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
        uid = fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        z = z_of[uid]
        pos = np.array(fg.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        if np.abs(pos - ipp[z]).max() > 1e-3:
            errors.append("frame %d: position %s, slice %d at %s" % (i + 1, pos, z, ipp[z]))
        number = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        pred[number][z] |= frames[i]

    def dice(a, b):
        s = int(a.sum()) + int(b.sum())
        return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s

    print(json.dumps({
        "liver_voxels": int(pred[1].sum()),
        "tumor_voxels": int(pred[2].sum()),
        "liver_dice": dice(pred[1], liver),
        "tumor_dice": dice(pred[2], tumor),
        "errors": errors,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:4])
