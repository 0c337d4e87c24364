#!/usr/bin/env node
// readseg.js SEG.dcm - read a DICOM SEG with dcmjs the way OHIF's SEG
// loader does (DicomMessage.readFile, naturalizeDataset, BitArray.unpack of
// the 1-bit pixel data) and print what a viewer needs as JSON: the
// referenced series and instances, the segments, and for every frame its
// segment, source instance, position and number of set pixels.
'use strict';

const fs = require('fs');
const dcmjs = require('dcmjs');

// dcmjs presents a one-item sequence as the item itself in some versions.
function items(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function code(seq) {
  const c = items(seq)[0];
  return c ? { value: c.CodeValue, scheme: c.CodingSchemeDesignator, meaning: c.CodeMeaning } : null;
}

function main(path) {
  const buf = fs.readFileSync(path);
  const arrayBuffer = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const dicomData = dcmjs.data.DicomMessage.readFile(arrayBuffer);
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dicomData.dict);
  const meta = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dicomData.meta);

  const rows = ds.Rows;
  const cols = ds.Columns;
  const nframes = Number(ds.NumberOfFrames);
  const pixelData = items(ds.PixelData)[0];
  const bits = dcmjs.data.BitArray.unpack(new Uint8Array(pixelData));
  const plane = rows * cols;

  const shared = items(ds.SharedFunctionalGroupsSequence)[0] || {};
  const frames = items(ds.PerFrameFunctionalGroupsSequence).map((pf, i) => {
    const deriv = items(pf.DerivationImageSequence)[0] || {};
    const src = items(deriv.SourceImageSequence)[0] || {};
    const pos = items(pf.PlanePositionSequence || shared.PlanePositionSequence)[0] || {};
    const seg = items(pf.SegmentIdentificationSequence)[0] || {};
    const content = items(pf.FrameContentSequence)[0] || {};
    let set = 0;
    // BitArray.unpack gives 0 or 255 per pixel, least significant bit first.
    for (let p = i * plane; p < (i + 1) * plane; p++) if (bits[p]) set++;
    return {
      segment: seg.ReferencedSegmentNumber,
      sourceSOPInstanceUID: src.ReferencedSOPInstanceUID,
      sourceSOPClassUID: src.ReferencedSOPClassUID,
      imagePositionPatient: items(pos.ImagePositionPatient).map(Number),
      dimensionIndexValues: items(content.DimensionIndexValues),
      setPixels: set,
    };
  });

  const out = {
    transferSyntaxUID: meta.TransferSyntaxUID,
    sopClassUID: ds.SOPClassUID,
    studyInstanceUID: ds.StudyInstanceUID,
    seriesInstanceUID: ds.SeriesInstanceUID,
    frameOfReferenceUID: ds.FrameOfReferenceUID,
    rows,
    columns: cols,
    numberOfFrames: nframes,
    referencedSeries: items(ds.ReferencedSeriesSequence).map((s) => ({
      seriesInstanceUID: s.SeriesInstanceUID,
      instances: items(s.ReferencedInstanceSequence).map((r) => r.ReferencedSOPInstanceUID),
    })),
    segments: items(ds.SegmentSequence).map((s) => ({
      number: s.SegmentNumber,
      label: s.SegmentLabel,
      algorithmType: s.SegmentAlgorithmType,
      category: code(s.SegmentedPropertyCategoryCodeSequence),
      type: code(s.SegmentedPropertyTypeCodeSequence),
      cielab: items(s.RecommendedDisplayCIELabValue),
    })),
    frames,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv.length !== 3) {
  process.stderr.write('usage: readseg.js SEG.dcm\n');
  process.exit(2);
}
try {
  main(process.argv[2]);
} catch (e) {
  process.stderr.write(`readseg: ${e.stack || e}\n`);
  process.exit(1);
}
