#!/usr/bin/python3
"""Independent read-back of a SEG written by package seg, with pydicom.

Usage: readback.py MANIFEST.json

The manifest names the SEG, the label volume (raw uint8, x fastest, then y,
then z), its size, the source slices in z order (SOPInstanceUID, frame
number for multi-frame sources, ImagePositionPatient) and, per segment number, the label values that belong
to it. For every frame this script finds the source slice twice, through its
DerivationImage/SourceImage reference and through its PlanePosition, unpacks
the frame's bits itself, least significant bit first as PS3.5 8.1.1 says,
and compares them with the label volume. Slices without a frame must be
empty for that segment. It prints one JSON object; "diff_voxels" must be 0
and "errors" empty.
"""
import json
import sys

import numpy as np
import pydicom


def main(path):
    with open(path) as f:
        m = json.load(f)
    nx, ny, nz = m["size"]
    labels = np.fromfile(m["labels"], dtype=np.uint8)
    if labels.size != nx * ny * nz:
        raise SystemExit("label file has %d voxels, want %d" % (labels.size, nx * ny * nz))
    labels = labels.reshape(nz, ny, nx)
    segments = {int(k): v for k, v in m["segments"].items()}
    # A slice is a source instance, or a frame of a multi-frame instance.
    uid_to_z = {(s["uid"], s.get("frame", 0)): z for z, s in enumerate(m["slices"])}
    ipps = np.array([s["ipp"] for s in m["slices"]], dtype=float)

    ds = pydicom.dcmread(m["seg"])
    errors = []
    if ds.SOPClassUID != "1.2.840.10008.5.1.4.1.1.66.4":
        errors.append("SOPClassUID %s" % ds.SOPClassUID)
    if ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.1":
        errors.append("TransferSyntaxUID %s" % ds.file_meta.TransferSyntaxUID)
    if int(ds.BitsAllocated) != 1 or ds.SegmentationType != "BINARY":
        errors.append("not a 1-bit BINARY SEG")
    rows, cols, nframes = int(ds.Rows), int(ds.Columns), int(ds.NumberOfFrames)
    if (rows, cols) != (ny, nx):
        errors.append("frame size %dx%d, labels %dx%d" % (rows, cols, ny, nx))
    raw = np.frombuffer(ds.PixelData, dtype=np.uint8)
    npix = nframes * rows * cols
    if raw.size != ((npix + 7) // 8 + 1) // 2 * 2:
        errors.append("PixelData %d bytes for %d bits (want even length %d)" % (raw.size, npix, ((npix + 7) // 8 + 1) // 2 * 2))
    bits = np.unpackbits(raw, bitorder="little")[:npix].reshape(nframes, rows, cols)

    ref_series = ds.ReferencedSeriesSequence[0]
    if ref_series.SeriesInstanceUID != m["series_uid"]:
        errors.append("ReferencedSeriesSequence names %s" % ref_series.SeriesInstanceUID)
    referenced = {it.ReferencedSOPInstanceUID for it in ref_series.ReferencedInstanceSequence}
    missing = {uid for uid, _ in uid_to_z} - referenced
    if missing:
        errors.append("%d source instances not referenced" % len(missing))

    covered = {s: set() for s in segments}
    diff = 0
    frames_per_segment = {s: 0 for s in segments}
    voxels = {s: 0 for s in segments}
    last = None
    for i, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
        src = fg.DerivationImageSequence[0].SourceImageSequence[0]
        purpose = src.PurposeOfReferenceCodeSequence[0]
        if (purpose.CodeValue, purpose.CodingSchemeDesignator) != ("121322", "DCM"):
            errors.append("frame %d purpose %s" % (i + 1, purpose.CodeValue))
        frame = int(src.ReferencedFrameNumber) if "ReferencedFrameNumber" in src else 0
        z_ref = uid_to_z.get((src.ReferencedSOPInstanceUID, frame))
        ipp = np.array([float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient])
        dist = np.linalg.norm(ipps - ipp, axis=1)
        z_pos = int(np.argmin(dist))
        if dist[z_pos] > 0.01:
            errors.append("frame %d position %s matches no slice (%.4f mm off)" % (i + 1, list(ipp), dist[z_pos]))
        if z_ref is None or z_ref != z_pos:
            errors.append("frame %d: reference gives slice %s, position gives %d" % (i + 1, z_ref, z_pos))
            continue
        seg = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        div = [int(v) for v in fg.FrameContentSequence[0].DimensionIndexValues]
        if div != [seg, z_pos + 1]:
            errors.append("frame %d DimensionIndexValues %s, want %s" % (i + 1, div, [seg, z_pos + 1]))
        if last is not None and (seg, z_pos) <= last:
            errors.append("frame %d out of order: segment %d slice %d after %s" % (i + 1, seg, z_pos, last))
        last = (seg, z_pos)
        want = np.isin(labels[z_pos], segments[seg]).astype(np.uint8)
        diff += int(np.count_nonzero(bits[i] != want))
        covered[seg].add(z_pos)
        frames_per_segment[seg] += 1
        voxels[seg] += int(bits[i].sum())
    for seg, zs in covered.items():
        for z in range(nz):
            if z not in zs:
                diff += int(np.count_nonzero(np.isin(labels[z], segments[seg])))
    print(json.dumps({
        "frames": nframes,
        "frames_per_segment": {str(k): v for k, v in frames_per_segment.items()},
        "voxels": {str(k): v for k, v in voxels.items()},
        "diff_voxels": diff,
        "errors": errors,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
