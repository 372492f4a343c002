#!/usr/bin/env node
// ohif_parse.mjs — parse DICOM SEG and SR files the way OHIF Viewer 3.13.2 does, without a browser.
// dicom-node's copy of the ohif-check kit's parser (docs/viewer.md); differences from the kit: an
// enhanced multi-frame source (one file, many frames) becomes one image per frame ("?frame=N", with the
// frame's own position, orientation and spacing from its functional groups), as OHIF's WADO-RS loader
// presents it, instead of one image with default geometry; and the npm libraries are looked up in the
// repository's .ohif/node/node_modules (filled by `make ohif`) as well.
//
//   node ohif_parse.mjs [--json] [--strict] FILE_OR_DIR [FILE_OR_DIR ...]
//
// Give it the SEG/SR files AND the source images they reference (CT series, CR image, ...).
// It uses the same libraries as OHIF 3.13.2 (dcmjs 0.52.0, @cornerstonejs/adapters 5.6.8):
//  * SEG: adaptersSEG.Cornerstone3D.Segmentation.createFromDICOMSegBuffer -> createLabelmapsFromSegImageIds,
//    the function OHIF's extensions/cornerstone-dicom-seg/src/getSopClassHandlerModule.ts `_loadSegments`
//    calls (via createFromDicomSegImageId, tolerance 0.001) — prints segments, labels, colors, frames,
//    voxel counts per segment, which source slices they land on.
//  * SR: a port of OHIF's extensions/cornerstone-dicom-sr/src/getSopClassHandlerModule.ts
//    (_getDisplaySetsFromSeries, _load, _getMeasurements, _processMeasurement, _processTID1410Measurement,
//    _processNonGeometricallyDefinedMeasurement, _checkIfCanAddMeasurementsToDisplaySet) and
//    utils/isRehydratable.ts using the real MeasurementReport adapter registry from @cornerstonejs/adapters.
//    Prints what OHIF extracts (tracking ids, labels = "concept: value unit", finding site, coords),
//    whether OHIF can draw it on an image, whether it can be hydrated into an editable tool, and
//    whether OHIF 3.13.2 will crash on it — plus a plain TID 1500 walk for comparison.
// (The SR port is a transcription of OHIF code (MIT licence, (c) OHIF contributors) for checking only.)
//
// The npm libraries are looked up, first hit wins, in: each NODE_PATH entry (a node_modules folder),
// $OHIF_CHECK_DIR/node/node_modules, ./.ohif-check/node/node_modules, ./node/node_modules,
// ./node_modules (./ = the current directory) and node_modules beside this script. setup.sh installs
// them in <working folder>/node/node_modules.
//
// Exit status: 0 nothing wrong predicted; 1 a predicted viewer failure: OHIF crashes on an SR (error
// boundary, blank viewport), a SEG fails to load (loader throws / no display set), a measurement group
// with nothing shown (cannot be placed on any given image), an SR OHIF does not display; with --strict
// also the warnings (NUM values OHIF drops, hydration that fails, segments with no voxels on the
// images); 2 usage error, libraries not found, no DICOM input; 3 no failure found but some SEG/SR could
// not be checked because its source images were not given. The verdict goes to stderr (and to the
// "verdict" key with --json), so stdout keeps its format.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL, fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const asJson = args.includes('--json');
const strict = args.includes('--strict');
const help = args.includes('-h') || args.includes('--help');
const inputs = args.filter(a => !['--json', '--strict', '-h', '--help'].includes(a));
if (help || !inputs.length) {
  console.error('usage: node ohif_parse.mjs [--json] [--strict] FILE_OR_DIR ...\n' +
    '  exit 0 ok, 1 predicted OHIF failure, 2 usage/libraries/no input, 3 source images missing');
  process.exit(help ? 0 : 2);
}
const missingInputs = inputs.filter(p => !fs.existsSync(p));
if (missingInputs.length) {
  console.error('ohif_parse.mjs: no such file or folder: ' + missingInputs.join(', '));
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// find the npm libraries (dcmjs + @cornerstonejs/*) installed by setup.sh
const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const nmCandidates = [
  ...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean),
  ...(process.env.OHIF_CHECK_DIR ? [path.join(process.env.OHIF_CHECK_DIR, 'node', 'node_modules')] : []),
  path.join('.ohif-check', 'node', 'node_modules'),
  path.join('node', 'node_modules'),
  'node_modules',
  path.join(scriptDir, 'node_modules'),
  path.join(scriptDir, '..', '..', '..', '.ohif', 'node', 'node_modules'),
].map(p => path.resolve(p));
const NODE_MODULES = nmCandidates.find(d =>
  fs.existsSync(path.join(d, 'dcmjs', 'package.json')) &&
  fs.existsSync(path.join(d, '@cornerstonejs', 'adapters', 'package.json')) &&
  fs.existsSync(path.join(d, '@cornerstonejs', 'core', 'package.json')));
if (!NODE_MODULES) {
  console.error('ohif_parse.mjs: dcmjs / @cornerstonejs/adapters not found. Run setup.sh, then either run from the folder ' +
    'that holds .ohif-check (or from the working folder itself), or set OHIF_CHECK_DIR, or ' +
    'NODE_PATH=<working folder>/node/node_modules. Looked in:\n  ' + [...new Set(nmCandidates)].join('\n  '));
  process.exit(2);
}
const pkgJson = name => JSON.parse(fs.readFileSync(path.join(NODE_MODULES, name, 'package.json'), 'utf8'));
// ESM entry of a package (exports["."].import, else module, else main), as a file URL of its real path
function esmEntry(name) {
  const pj = pkgJson(name);
  const dot = pj.exports && (pj.exports['.'] || pj.exports);
  const rel = (dot && (typeof dot === 'string' ? dot : dot.import || dot.default)) || pj.module || pj.main || 'index.js';
  return pathToFileURL(fs.realpathSync(path.join(NODE_MODULES, name, rel))).href;
}
const require = createRequire(path.join(NODE_MODULES, '.ohif-check-resolve.cjs'));
const dcmjs = require(path.join(NODE_MODULES, 'dcmjs'));
const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

// quiet the libraries' own console chatter while still recording OHIF-style warnings
const ohifLog = [];
const origWarn = console.warn;
const origLog = console.log;

// ---------------------------------------------------------------------------------------------
// read inputs
function walk(p) {
  const st = fs.statSync(p);
  if (st.isDirectory()) return fs.readdirSync(p).sort().flatMap(f => walk(path.join(p, f)));
  return [p];
}
const files = [];
for (const p of inputs.flatMap(walk)) {
  let buf;
  try {
    buf = fs.readFileSync(p);
    if (buf.length < 132 || buf.toString('latin1', 128, 132) !== 'DICM') continue;
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const dicom = DicomMessage.readFile(ab);
    const ds = DicomMetaDictionary.naturalizeDataset(dicom.dict);
    ds._meta = DicomMetaDictionary.namifyDataset(dicom.meta);
    files.push({ path: p, ds, ab });
  } catch (e) {
    files.push({ path: p, error: String(e).slice(0, 200) });
  }
}
const SEG_CLASSES = ['1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7'];
const SR_CLASSES = {
  '1.2.840.10008.5.1.4.1.1.88.11': 'BasicTextSR',
  '1.2.840.10008.5.1.4.1.1.88.22': 'EnhancedSR',
  '1.2.840.10008.5.1.4.1.1.88.33': 'ComprehensiveSR',
  '1.2.840.10008.5.1.4.1.1.88.34': 'Comprehensive3DSR',
};
const first = v => (Array.isArray(v) ? v[0] : v);
const asArray = v => (v == null ? [] : Array.isArray(v) ? v : [v]);
const images = files.filter(f => f.ds && !SEG_CLASSES.includes(f.ds.SOPClassUID) && f.ds.Modality !== 'SR');
const segs = files.filter(f => f.ds && SEG_CLASSES.includes(f.ds.SOPClassUID));
const srs = files.filter(f => f.ds && (f.ds.Modality === 'SR' || String(f.ds.SOPClassUID).startsWith('1.2.840.10008.5.1.4.1.1.88.')));

// ---------------------------------------------------------------------------------------------
// metadata provider over the given source images (imageId = "file:<path>"), as cornerstone expects
const byImageId = new Map();
// an enhanced multi-frame image: one dataset per frame with that frame's geometry (as OHIF's
// combineFrameInstance does for WADO-RS frames); null for a single-frame image
function frameDatasets(ds) {
  const perFrame = asArray(ds.PerFrameFunctionalGroupsSequence);
  if (Number(ds.NumberOfFrames || 1) <= 1 || !perFrame.length) return null;
  const shared = first(ds.SharedFunctionalGroupsSequence) || {};
  return perFrame.map(item => {
    const group = k => first(item[k]) || first(shared[k]) || {};
    const measures = group('PixelMeasuresSequence');
    return {
      ...ds,
      ImagePositionPatient: group('PlanePositionSequence').ImagePositionPatient,
      ImageOrientationPatient: group('PlaneOrientationSequence').ImageOrientationPatient,
      PixelSpacing: measures.PixelSpacing,
      SliceThickness: measures.SliceThickness,
    };
  });
}
for (const f of images) {
  const frames = frameDatasets(f.ds);
  if (frames) frames.forEach((ds, i) => byImageId.set(`file:${f.path}?frame=${i + 1}`, ds));
  else byImageId.set('file:' + f.path, f.ds);
}
function normal(ds) {
  const o = asArray(ds.ImageOrientationPatient).map(Number);
  if (o.length !== 6) return [0, 0, 1];
  return [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
}
function provider(type, imageId) {
  const ds = byImageId.get(imageId);
  if (!ds) return undefined;
  const iop = asArray(ds.ImageOrientationPatient).map(Number);
  const ipp = asArray(ds.ImagePositionPatient).map(Number);
  const ps = asArray(ds.PixelSpacing || ds.ImagerPixelSpacing || [1, 1]).map(Number);
  switch (type) {
    case 'instance':
      return ds;
    case 'generalImageModule':
      return { sopInstanceUID: ds.SOPInstanceUID, instanceNumber: ds.InstanceNumber };
    case 'generalSeriesModule':
      return { seriesInstanceUID: ds.SeriesInstanceUID, modality: ds.Modality, studyInstanceUID: ds.StudyInstanceUID };
    case 'imagePlaneModule':
      return {
        frameOfReferenceUID: ds.FrameOfReferenceUID,
        rows: ds.Rows, columns: ds.Columns,
        imageOrientationPatient: iop.length === 6 ? iop : [1, 0, 0, 0, 1, 0],
        rowCosines: iop.length === 6 ? iop.slice(0, 3) : [1, 0, 0],
        columnCosines: iop.length === 6 ? iop.slice(3, 6) : [0, 1, 0],
        imagePositionPatient: ipp.length === 3 ? ipp : [0, 0, 0],
        pixelSpacing: ps, rowPixelSpacing: ps[0], columnPixelSpacing: ps[1],
        sliceThickness: ds.SliceThickness, usingDefaultValues: iop.length !== 6,
      };
    case 'imagePixelModule':
      return {
        samplesPerPixel: ds.SamplesPerPixel, photometricInterpretation: ds.PhotometricInterpretation,
        rows: ds.Rows, columns: ds.Columns, bitsAllocated: ds.BitsAllocated, bitsStored: ds.BitsStored,
        highBit: ds.HighBit, pixelRepresentation: ds.PixelRepresentation,
      };
    default:
      return undefined;
  }
}
const metadataProvider = { get: provider };

function seriesImageIds(seriesUID) {
  // OHIF's stack order: sorted along the slice normal when positions exist, else by InstanceNumber
  const ids = [...byImageId.entries()].filter(([, ds]) => ds.SeriesInstanceUID === seriesUID);
  ids.sort(([, a], [, b]) => {
    const pa = asArray(a.ImagePositionPatient).map(Number), pb = asArray(b.ImagePositionPatient).map(Number);
    if (pa.length === 3 && pb.length === 3) {
      const n = normal(a);
      return (pb[0] * n[0] + pb[1] * n[1] + pb[2] * n[2]) - (pa[0] * n[0] + pa[1] * n[1] + pa[2] * n[2]);
    }
    return (a.InstanceNumber || 0) - (b.InstanceNumber || 0);
  });
  return ids.map(([id]) => id);
}

// dicomlab -> RGB, as extensions/cornerstone-dicom-seg/src/utils/dicomlabToRGB.ts (via dcmjs.data.Colors)
function dicomlabToRGB(cielab) {
  const rgb = dcmjs.data.Colors.dicomlab2RGB(cielab).map(x => Math.round(x * 255));
  return rgb;
}

// ---------------------------------------------------------------------------------------------
// every PROBLEM is also filed as a failure (the viewer will not show it / crashes), a warning (shown,
// but something is lost) or unchecked (a source image is missing from the inputs)
function problem(out, cls, text) {
  out.problems.push(text);
  (out[cls] = out[cls] || []).push(text);
}

async function parseSeg(f, adapters, core) {
  const ds = f.ds;
  const out = {
    file: f.path, SOPClassUID: ds.SOPClassUID, SeriesDescription: ds.SeriesDescription,
    SeriesNumber: ds.SeriesNumber, NumberOfFrames: Number(ds.NumberOfFrames || 1),
    SegmentationType: ds.SegmentationType, Rows: ds.Rows, Columns: ds.Columns,
    ohif: {}, problems: [], failures: [], warnings: [], unchecked: [],
  };
  // OHIF _getDisplaySetsFromSeries: needs ReferencedSeriesSequence (else console.error + no display set)
  const rss = ds.ReferencedSeriesSequence;
  if (!rss) {
    problem(out, 'failures', 'ReferencedSeriesSequence missing: OHIF logs "ReferencedSeriesSequence is missing for the SEG" and makes no display set');
    return out;
  }
  const refSeries = first(rss).SeriesInstanceUID;
  out.ohif.referencedSeriesInstanceUID = refSeries;
  const imageIds = seriesImageIds(refSeries);
  out.ohif.referencedImagesGiven = imageIds.length;
  out.segments = asArray(ds.SegmentSequence).map(s => ({
    SegmentNumber: s.SegmentNumber,
    SegmentLabel: s.SegmentLabel,
    category: first(s.SegmentedPropertyCategoryCodeSequence)?.CodeMeaning,
    type: first(s.SegmentedPropertyTypeCodeSequence)?.CodeMeaning,
    algorithmType: s.SegmentAlgorithmType,
    RecommendedDisplayCIELabValue: s.RecommendedDisplayCIELabValue,
    ohifColorRGB: s.RecommendedDisplayCIELabValue ? dicomlabToRGB(asArray(s.RecommendedDisplayCIELabValue)) : '(none: OHIF uses its default color LUT and shows a warning toast)',
  }));
  if (!imageIds.length) {
    problem(out, 'unchecked', `referenced series ${refSeries} not among the inputs: OHIF would wait for it to load; give its files too`);
    return out;
  }
  const t0 = Date.now();
  try {
    console.warn = (...a) => ohifLog.push('[warn] ' + a.join(' '));
    console.log = (...a) => ohifLog.push('[log] ' + a.join(' '));
    const res = await adapters.adaptersSEG.Cornerstone3D.Segmentation.createFromDICOMSegBuffer(
      imageIds, f.ab, { metadataProvider, tolerance: 0.001 });
    out.ohif.parseMs = Date.now() - t0;
    out.ohif.labelMapImages = res.labelMapImages?.flat().length;
    out.ohif.overlappingSegments = res.overlappingSegments;
    // per segment: voxels and the source slices they were placed on
    const voxels = {}, slices = {};
    (res.labelMapImages?.flat() || []).forEach((img, idx) => {
      const pd = img.voxelManager ? img.voxelManager.getScalarData() : img.getPixelData?.();
      if (!pd) return;
      for (let i = 0; i < pd.length; i++) {
        const v = pd[i];
        if (v) {
          voxels[v] = (voxels[v] || 0) + 1;
          (slices[v] = slices[v] || new Set()).add(idx);
        }
      }
    });
    const segMeta = res.segMetadata?.data || [];
    out.ohif.segments = segMeta.filter(Boolean).map(m => ({
      SegmentNumber: m.SegmentNumber, SegmentLabel: m.SegmentLabel,
      voxelsOnSourceImages: voxels[m.SegmentNumber] || 0,
      sourceSliceIndices: slices[m.SegmentNumber] ? [...slices[m.SegmentNumber]].sort((a, b) => a - b) : [],
      centroid: res.centroids?.get?.(Number(m.SegmentNumber)) || undefined,
    }));
    if (!out.ohif.segments.length) problem(out, 'failures', 'the OHIF loader returned no segments: the Segmentation panel stays empty');
    for (const s of out.ohif.segments) {
      if (!s.voxelsOnSourceImages) problem(out, 'warnings', `segment ${s.SegmentNumber} (${s.SegmentLabel}) has no voxels placed on the source images (OHIF shows it empty)`);
    }
  } catch (e) {
    problem(out, 'failures', 'OHIF SEG loader (createLabelmapsFromSegImageIds) threw: ' + String(e && e.message || e).slice(0, 300));
  } finally {
    console.warn = origWarn;
    console.log = origLog;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SR: port of extensions/cornerstone-dicom-sr/src/getSopClassHandlerModule.ts (OHIF 3.13.2)
const CodeNameCodeSequenceValues = {
  ImagingMeasurementReport: '126000', ImageLibrary: '111028', ImagingMeasurements: '126010',
  MeasurementGroup: '125007', ImageLibraryGroup: '126200', TrackingUniqueIdentifier: '112040',
  TrackingIdentifier: '112039', Finding: '121071', FindingSite: 'G-C0E3', FindingSiteSCT: '363698007',
};

function makeSrPort(adapters) {
  const C3D = adapters.adaptersSR.Cornerstone3D;
  const { MeasurementReport, TEXT_ANNOTATION_POSITION, COMMENT_CODE, CodeScheme } = C3D;
  const isScoordOr3d = g => g.ValueType === 'SCOORD' || g.ValueType === 'SCOORD3D';
  const isTextPosition = g => {
    const concept = g.ConceptNameCodeSequence[0];
    return concept && concept.CodeValue === TEXT_ANNOTATION_POSITION.value &&
      concept.CodingSchemeDesignator === TEXT_ANNOTATION_POSITION.schemeDesignator;
  };
  const _getSequenceAsArray = s => (!s ? [] : Array.isArray(s) ? s : [s]);
  const _getCoordsFromSCOORDOrSCOORD3D = g => {
    const { ValueType, GraphicType, GraphicData } = g;
    const coords = { ValueType, GraphicType, GraphicData };
    coords.ReferencedSOPSequence = g.ContentSequence?.ReferencedSOPSequence;
    coords.ReferencedFrameOfReferenceSequence = g.ReferencedFrameOfReferenceUID || g.ContentSequence?.ReferencedFrameOfReferenceSequence;
    return coords;
  };
  const _getLabel = (cn, mv) => {
    const { CodeMeaning } = cn;
    const { NumericValue, MeasurementUnitsCodeSequence } = mv;
    const { CodeValue } = MeasurementUnitsCodeSequence;
    const v = NumericValue ? Number(NumericValue).toFixed(2) : '';
    return { label: CodeMeaning, value: `${v} ${CodeValue}` };
  };
  function _processTID1410Measurement(seq) {
    const graphicItem = seq.find(g => g.ValueType === 'SCOORD' || g.ValueType === 'SCOORD3D');
    const UIDREF = seq.find(g => g.ValueType === 'UIDREF');
    const TI = seq.find(i => i.ConceptNameCodeSequence.CodeValue === CodeNameCodeSequenceValues.TrackingIdentifier);
    const NUMs = seq.filter(g => g.ValueType === 'NUM');
    const { CodeValue: gv, CodingSchemeDesignator: gd } = graphicItem.ConceptNameCodeSequence;
    const graphicCode = `${gd}:${gv}`;
    const pointDataItem = _getCoordsFromSCOORDOrSCOORD3D(graphicItem);
    const is3D = pointDataItem.ValueType === 'SCOORD3D';
    const pointsLength = pointDataItem.GraphicData.length / (is3D ? 3 : 2);
    const m = {
      kind: 'TID1410 (has SCOORD/SCOORD3D)', loaded: false, labels: [], coords: [pointDataItem],
      TrackingUniqueIdentifier: UIDREF.UID, TrackingIdentifier: TI.TextValue,
      graphicCode, is3DMeasurement: is3D, pointsLength, graphicType: pointDataItem.GraphicType,
    };
    // @cornerstonejs/adapters MeasurementReport.getSetupMeasurementData (used when hydrating) takes the
    // geometry from the FIRST NUM's children; only a group without any NUM may keep it at group level
    const firstNUM = seq.find(g => g.ValueType === 'NUM');
    m.hydrationGeometryOK = !firstNUM || _getSequenceAsArray(firstNUM.ContentSequence).some(isScoordOr3d);
    NUMs.forEach(item => {
      if (item.MeasuredValueSequence) m.labels.push(_getLabel(item.ConceptNameCodeSequence, item.MeasuredValueSequence));
    });
    const fs_ = seq.filter(i => i.ConceptNameCodeSequence.CodingSchemeDesignator === 'SCT' &&
      i.ConceptNameCodeSequence.CodeValue === CodeNameCodeSequenceValues.FindingSiteSCT);
    if (fs_.length) m.labels.push({ label: CodeNameCodeSequenceValues.FindingSiteSCT, value: fs_[0].ConceptCodeSequence.CodeMeaning });
    return m;
  }
  function _processNonGeometric(seq) {
    const NUMs = seq.filter(g => g.ValueType === 'NUM');
    const UIDREF = seq.find(g => g.ValueType === 'UIDREF');
    const TI = seq.find(i => i.ConceptNameCodeSequence.CodeValue === CodeNameCodeSequenceValues.TrackingIdentifier);
    const finding = seq.find(i => i.ConceptNameCodeSequence.CodeValue === CodeNameCodeSequenceValues.Finding);
    const findingSites = seq.filter(i => i.ConceptNameCodeSequence.CodingSchemeDesignator === 'SRT' &&
      i.ConceptNameCodeSequence.CodeValue === CodeNameCodeSequenceValues.FindingSite);
    const comments = seq.filter(i => i.ConceptNameCodeSequence.CodingSchemeDesignator === COMMENT_CODE.schemeDesignator &&
      i.ConceptNameCodeSequence.CodeValue === COMMENT_CODE.value);
    const m = { kind: 'non-geometric (no SCOORD at group level)', loaded: false, labels: [], coords: [],
      TrackingUniqueIdentifier: UIDREF.UID, TrackingIdentifier: TI.TextValue, droppedNUMs: [] };
    for (const g of comments) if (g.TextValue) m.labels.push({ label: g.TextValue, value: '' });
    const CS = ['99CORNERSTONE3D', 'CORNERSTONEJS'];
    if (finding && CS.includes(finding.ConceptCodeSequence.CodingSchemeDesignator) &&
      finding.ConceptCodeSequence.CodeValue === CodeScheme.codeValues.CORNERSTONEFREETEXT) {
      m.labels.push({ label: CodeScheme.codeValues.CORNERSTONEFREETEXT, value: finding.ConceptCodeSequence.CodeMeaning });
    }
    if (findingSites.length) {
      const ff = findingSites.find(F => CS.includes(F.ConceptCodeSequence.CodingSchemeDesignator) &&
        F.ConceptCodeSequence.CodeValue === CodeScheme.codeValues.CORNERSTONEFREETEXT);
      if (ff) m.labels.push({ label: CodeScheme.codeValues.CORNERSTONEFREETEXT, value: ff.ConceptCodeSequence.CodeMeaning });
    }
    NUMs.forEach(item => {
      const { ConceptNameCodeSequence, ContentSequence, MeasuredValueSequence } = item;
      if (ContentSequence) {
        const sc = Array.isArray(ContentSequence)
          ? ContentSequence.find(cs => (cs.ValueType === 'SCOORD' || cs.ValueType === 'SCOORD3D') && !cs.ConceptNameCodeSequence) ??
            ContentSequence.find(cs => cs.ValueType === 'SCOORD' || cs.ValueType === 'SCOORD3D')
          : ContentSequence;
        if (!sc) {
          ohifLog.push('[warn] ContentSequence array contains no SCOORD or SCOORD3D entry, skipping annotation.');
          m.droppedNUMs.push(`${ConceptNameCodeSequence.CodeMeaning} (NUM has child items but no SCOORD: OHIF skips it)`);
          return;
        }
        if (sc.ValueType !== 'SCOORD' && sc.ValueType !== 'SCOORD3D') {
          ohifLog.push(`[warn] Graphic ${sc.ValueType} not currently supported, skipping annotation.`);
          m.droppedNUMs.push(`${ConceptNameCodeSequence.CodeMeaning} (NUM's child is ${sc.ValueType}, not SCOORD: OHIF skips it)`);
          return;
        }
        const coords = _getCoordsFromSCOORDOrSCOORD3D(sc);
        if (coords) m.coords.push(coords);
      }
      if (MeasuredValueSequence) m.labels.push(_getLabel(ConceptNameCodeSequence, MeasuredValueSequence));
    });
    return m;
  }
  function _processMeasurement(seq) {
    if (seq.some(g => isScoordOr3d(g) && !isTextPosition(g))) return _processTID1410Measurement(seq);
    return _processNonGeometric(seq);
  }
  function _getMeasurements(report) {
    const IM = report.find(i => i.ConceptNameCodeSequence.CodeValue === CodeNameCodeSequenceValues.ImagingMeasurements);
    if (!IM) return { measurements: [], note: 'no Imaging Measurements (126010) container' };
    const groups = _getSequenceAsArray(IM.ContentSequence).filter(i => i.ConceptNameCodeSequence.CodeValue === CodeNameCodeSequenceValues.MeasurementGroup);
    const merged = {};
    for (const g of groups) {
      const cs = _getSequenceAsArray(g.ContentSequence);
      const tuid = cs.find(i => i.ConceptNameCodeSequence.CodeValue === CodeNameCodeSequenceValues.TrackingUniqueIdentifier);
      if (!tuid) throw new Error("Measurement Group without Tracking Unique Identifier (112040): OHIF throws \"Cannot read properties of undefined (reading 'UID')\"");
      if (merged[tuid.UID] === undefined) merged[tuid.UID] = [...cs];
      else cs.forEach(i => { if (i.ConceptNameCodeSequence.CodeValue !== CodeNameCodeSequenceValues.TrackingUniqueIdentifier) merged[tuid.UID].push(i); });
    }
    const measurements = [];
    for (const k of Object.keys(merged)) {
      const m = _processMeasurement(merged[k]);
      if (m) measurements.push(m);
    }
    return { measurements, groups: groups.length };
  }
  function isRehydratable(m) {
    // utils/isRehydratable.ts with the cornerstone mappings OHIF registers (tool names = adapter toolType)
    const { TrackingIdentifier = '', graphicType, graphicCode, pointsLength } = m;
    if (!TrackingIdentifier && !graphicType) return { hydratable: false, why: 'no TrackingIdentifier or graphicType' };
    const a = MeasurementReport.getAdapterForTrackingIdentifier(TrackingIdentifier);
    const as = MeasurementReport.getAdaptersForTypes(graphicCode, graphicType, pointsLength);
    const names = [a?.toolType, ...as.map(x => x.toolType)].filter(Boolean);
    return { hydratable: names.length > 0, adapters: [...new Set(names)] };
  }
  return { _getMeasurements, isRehydratable };
}

function code(c) {
  c = first(c);
  return c ? `${c.CodeMeaning} (${c.CodingSchemeDesignator} ${c.CodeValue})` : '?';
}
// plain TID 1500 reading, independent of OHIF, for comparison
function tid1500(ds) {
  const report = asArray(ds.ContentSequence);
  const IM = report.find(i => first(i.ConceptNameCodeSequence)?.CodeValue === '126010');
  return asArray(IM?.ContentSequence).map(g => {
    const cs = asArray(g.ContentSequence);
    const name = i => first(i.ConceptNameCodeSequence);
    const out = {
      group: name(g)?.CodeMeaning,
      trackingIdentifier: cs.find(i => name(i)?.CodeValue === '112039')?.TextValue,
      trackingUID: cs.find(i => name(i)?.CodeValue === '112040')?.UID,
      findings: cs.filter(i => name(i)?.CodeValue === '121071').map(i => code(i.ConceptCodeSequence)),
      findingSites: cs.filter(i => name(i)?.CodeValue === '363698007' || name(i)?.CodeValue === 'G-C0E3').map(i => code(i.ConceptCodeSequence)),
      measurements: cs.filter(i => i.ValueType === 'NUM').map(i => {
        const mv = first(i.MeasuredValueSequence);
        return `${name(i)?.CodeMeaning} = ${mv ? mv.NumericValue + ' ' + first(mv.MeasurementUnitsCodeSequence)?.CodeValue : '(no value)'}` +
          (i.ContentSequence ? ` [children: ${asArray(i.ContentSequence).map(c => c.ValueType + ' ' + (name(c)?.CodeMeaning || '')).join('; ')}]` : '');
      }),
      qualitative: cs.filter(i => i.ValueType === 'CODE' && !['121071', '363698007', 'G-C0E3'].includes(name(i)?.CodeValue))
        .map(i => `${name(i)?.CodeMeaning} = ${code(i.ConceptCodeSequence)}`),
      graphics: cs.filter(i => i.ValueType === 'SCOORD' || i.ValueType === 'SCOORD3D')
        .map(i => `${i.ValueType} ${i.GraphicType} (${asArray(i.GraphicData).length} values) ${name(i)?.CodeMeaning || ''}`),
      images: cs.filter(i => i.ValueType === 'IMAGE').map(i => `${name(i)?.CodeMeaning}: ${first(i.ReferencedSOPSequence)?.ReferencedSOPInstanceUID}` +
        (first(i.ReferencedSOPSequence)?.ReferencedSegmentNumber ? ` segment ${first(i.ReferencedSOPSequence).ReferencedSegmentNumber}` : '')),
      texts: cs.filter(i => i.ValueType === 'TEXT' && name(i)?.CodeValue !== '112039').map(i => `${name(i)?.CodeMeaning}: ${i.TextValue}`),
    };
    return out;
  });
}

function parseSr(f, port) {
  const ds = f.ds;
  const cls = SR_CLASSES[ds.SOPClassUID];
  const root = first(ds.ConceptNameCodeSequence);
  const out = {
    file: f.path, SOPClassUID: ds.SOPClassUID, sopClass: cls || '(not an SR class OHIF handles)',
    SeriesDescription: ds.SeriesDescription, SeriesNumber: ds.SeriesNumber,
    template: asArray(ds.ContentTemplateSequence).map(t => `${t.MappingResource} ${t.TemplateIdentifier}`).join(','),
    root: code(ds.ConceptNameCodeSequence), ohif: {}, problems: [], failures: [], warnings: [], unchecked: [],
  };
  if (!cls) {
    problem(out, 'failures', 'SOP class not handled by OHIF SR extension (Basic Text, Enhanced, Comprehensive, Comprehensive 3D only)');
    return out;
  }
  // OHIF checks ConceptNameCodeSequence?.CodeValue on the naturalized dataset
  const isIMR = ds.ConceptNameCodeSequence?.CodeValue === CodeNameCodeSequenceValues.ImagingMeasurementReport;
  out.ohif.isImagingMeasurementReport = isIMR;
  out.ohif.viewport = isIMR ? 'OHIFCornerstoneSRMeasurementViewport (image + annotations)' : 'OHIFCornerstoneSRTextViewport (text tree only)';
  out.tid1500 = tid1500(ds);
  if (!isIMR) return out;
  let res;
  try {
    res = port._getMeasurements(asArray(ds.ContentSequence));
  } catch (e) {
    problem(out, 'failures', 'OHIF _getMeasurements would throw: ' + String(e.message || e));
    return out;
  }
  const imagesBySop = new Map(images.map(i => [i.ds.SOPInstanceUID, i.ds]));
  out.ohif.measurementGroups = res.groups;
  out.ohif.measurements = res.measurements.map(m => {
    const r = port.isRehydratable(m);
    const c0 = m.coords[0];
    let placement;
    if (!c0) placement = 'none (no SCOORD): cannot be drawn';
    else if (c0.ValueType === 'SCOORD3D') placement = `SCOORD3D on FrameOfReference ${c0.ReferencedFrameOfReferenceSequence}`;
    else {
      const ref = c0.ReferencedSOPSequence;
      const sop = ref && ref.ReferencedSOPInstanceUID;
      placement = !ref ? 'SCOORD without SELECTED FROM IMAGE reference: cannot be placed'
        : `on image ${sop}${ref.ReferencedFrameNumber ? ' frame ' + ref.ReferencedFrameNumber : ''}` +
          (imagesBySop.size ? (imagesBySop.has(sop) ? ' (found among inputs)' : ' (NOT among the inputs)') : '');
    }
    return {
      TrackingIdentifier: m.TrackingIdentifier, TrackingUniqueIdentifier: m.TrackingUniqueIdentifier,
      kind: m.kind, graphicType: m.graphicType, graphicCode: m.graphicCode, pointsLength: m.pointsLength,
      labels: m.labels.map(l => `${l.label}: ${l.value}`), droppedNUMs: m.droppedNUMs,
      placement, rehydratable: r.hydratable, hydrateAs: r.adapters,
      hydrationWouldFail: r.hydratable && m.hydrationGeometryOK === false ?
        'SCOORD is not a child of the first NUM: OHIF offers tracking, then logs "Unable to generate tool state ... No spatial coordinates group found" and the Measurements panel stays empty' : undefined,
    };
  });
  // _checkIfCanAddMeasurementsToDisplaySet reads measurement.coords[0].ReferencedSOPSequence for every
  // unloaded measurement, so one measurement without coords throws -> route error boundary (blank viewport)
  const noCoords = res.measurements.filter(m => !m.coords.length);
  if (noCoords.length) {
    problem(out, 'failures', `OHIF 3.13.2 crashes when this SR is opened: ${noCoords.length} measurement group(s) without any SCOORD/SCOORD3D ` +
      `(${noCoords.map(m => JSON.stringify(m.TrackingIdentifier)).join(', ')}) -> TypeError "Cannot read properties of undefined ` +
      `(reading 'ReferencedSOPSequence')" in _checkIfCanAddMeasurementsToDisplaySet; the viewport stays blank`);
  }
  // a group with geometry that cannot be placed on any given image: OHIF shows nothing of it
  const imageFoRs = new Set(images.map(i => i.ds.FrameOfReferenceUID).filter(Boolean));
  for (const m of out.ohif.measurements) {
    if (m.placement.startsWith('none')) { m.shown = false; continue; }   // covered by the crash above
    let why = '';
    if (m.placement.startsWith('SCOORD without')) why = 'its SCOORD has no SELECTED FROM IMAGE reference';
    else if (m.placement.endsWith('(NOT among the inputs)')) why = 'its SCOORD references an image that is not among the inputs';
    else if (m.placement.startsWith('SCOORD3D') && imageFoRs.size && !imageFoRs.has(m.placement.split(' ').pop()))
      why = 'its SCOORD3D FrameOfReference matches none of the input images';
    m.shown = !why;
    if (why) problem(out, 'failures', `"${m.TrackingIdentifier}": nothing shown by OHIF: ${why}`);
    else if (!images.length && !m.placement.startsWith('SCOORD3D')) problem(out, 'unchecked', `"${m.TrackingIdentifier}": referenced image not given, cannot tell whether OHIF can place it`);
    if (m.hydrationWouldFail) out.warnings.push(`"${m.TrackingIdentifier}": hydration fails: ${m.hydrationWouldFail}`);
  }
  for (const m of out.ohif.measurements) {
    if (m.droppedNUMs?.length) problem(out, 'warnings', `"${m.TrackingIdentifier}": NUM values not shown by OHIF: ${m.droppedNUMs.join('; ')}`);
  }
  if (!res.measurements.some(m => m.coords.length)) problem(out, 'warnings', 'nothing OHIF can draw: no group has SCOORD/SCOORD3D');
  return out;
}

// ---------------------------------------------------------------------------------------------
async function main() {
  // silence library import chatter
  console.log = () => {};
  const adapters = await import(esmEntry('@cornerstonejs/adapters'));
  const core = await import(esmEntry('@cornerstonejs/core'));
  console.log = origLog;
  try { core.metaData.addProvider((type, imageId) => provider(type, imageId), 10000); } catch (e) { /* ignore */ }
  const port = makeSrPort(adapters);
  const report = {
    versions: {
      dcmjs: pkgJson('dcmjs').version,
      '@cornerstonejs/adapters': pkgJson('@cornerstonejs/adapters').version,
    },
    inputs: { files: files.length, images: images.length, seg: segs.length, sr: srs.length, unreadable: files.filter(f => f.error).map(f => f.path) },
    seg: [], sr: [],
  };
  for (const f of segs) report.seg.push(await parseSeg(f, adapters, core));
  for (const f of srs) report.sr.push(parseSr(f, port));
  report.ohifConsole = [...new Set(ohifLog)].slice(0, 50);
  const items = [...report.seg.map(x => ['SEG', x]), ...report.sr.map(x => ['SR', x])];
  const collect = k => items.flatMap(([t, x]) => (x[k] || []).map(p => `${t} ${x.file}: ${p}`));
  const failures = collect('failures'), warnings = collect('warnings'), unchecked = collect('unchecked');
  const status = failures.length || (strict && warnings.length) ? 'FAIL' : unchecked.length ? 'INCOMPLETE'
    : !files.some(f => f.ds) ? 'NO_DICOM' : !items.length ? 'NOTHING_CHECKED' : 'OK';
  report.verdict = { status, strict, failures, warnings, unchecked };
  process.exitCode = { FAIL: 1, NO_DICOM: 2, INCOMPLETE: 3 }[status] || 0;
  const E = (...a) => console.error(...a);
  const printVerdict = () => {
    E(`ohif_parse: ${status} (${report.seg.length} SEG, ${report.sr.length} SR; ${failures.length} predicted failure(s), ` +
      `${warnings.length} warning(s)${strict ? ' [--strict: warnings fail]' : ''}, ${unchecked.length} unchecked)`);
    for (const x of failures) E('  FAIL ' + x);
    for (const x of warnings) E((strict ? '  FAIL ' : '  warn ') + x);
    for (const x of unchecked) E('  unchecked ' + x);
    if (!items.length) E(status === 'NO_DICOM' ? '  no readable DICOM (Part 10) file among the inputs' : '  no SEG or SR among the inputs');
  };
  if (asJson) {
    process.stdout.write(JSON.stringify(report, (k, v) => (v instanceof Set ? [...v] : v), 1) + '\n');
    printVerdict();
    return;
  }
  const P = (...a) => origLog(...a);
  P(`dcmjs ${report.versions.dcmjs}, @cornerstonejs/adapters ${report.versions['@cornerstonejs/adapters']}; ` +
    `${report.inputs.images} source image(s), ${report.inputs.seg} SEG, ${report.inputs.sr} SR`);
  for (const s of report.seg) {
    P(`\n=== SEG ${s.file}\n  series ${s.SeriesNumber} "${s.SeriesDescription}"  ${s.SegmentationType}, ${s.NumberOfFrames} frame(s) ${s.Rows}x${s.Columns}`);
    P(`  references series ${s.ohif.referencedSeriesInstanceUID} (${s.ohif.referencedImagesGiven ?? 0} of its images given)`);
    for (const g of s.segments || []) P(`  segment ${g.SegmentNumber} "${g.SegmentLabel}"  type=${g.type} category=${g.category}  OHIF color=${JSON.stringify(g.ohifColorRGB)}`);
    if (s.ohif.segments) {
      P(`  OHIF loader: ${s.ohif.labelMapImages} labelmap image(s), overlapping=${s.ohif.overlappingSegments}, ${s.ohif.parseMs} ms`);
      for (const g of s.ohif.segments) P(`    segment ${g.SegmentNumber} "${g.SegmentLabel}": ${g.voxelsOnSourceImages} voxels on source slices [${g.sourceSliceIndices.join(',')}]`);
    }
    for (const p of s.problems) P(`  PROBLEM: ${p}`);
  }
  for (const r of report.sr) {
    P(`\n=== SR ${r.file}\n  ${r.sopClass}, template ${r.template || '-'}, root ${r.root}; series ${r.SeriesNumber} "${r.SeriesDescription}"`);
    P(`  OHIF viewport: ${r.ohif.viewport}`);
    for (const g of r.tid1500 || []) {
      P(`  [TID1500 group] "${g.trackingIdentifier}"  findings=${JSON.stringify(g.findings)} sites=${JSON.stringify(g.findingSites)}`);
      for (const m of g.measurements) P(`      NUM ${m}`);
      for (const q of g.qualitative) P(`      CODE ${q}`);
      for (const x of g.graphics) P(`      ${x}`);
      for (const x of g.images) P(`      IMAGE ${x}`);
    }
    for (const m of r.ohif.measurements || []) {
      P(`  [OHIF measurement] "${m.TrackingIdentifier}" ${m.kind}${m.graphicType ? ` ${m.graphicType} ${m.graphicCode} x${m.pointsLength}` : ''}`);
      P(`      labels: ${JSON.stringify(m.labels)}`);
      P(`      drawn: ${m.placement}; hydratable: ${m.rehydratable}${m.hydrateAs?.length ? ' as ' + m.hydrateAs.join('/') : ''}`);
      if (m.hydrationWouldFail) P(`      hydration fails: ${m.hydrationWouldFail}`);
    }
    for (const p of r.problems) P(`  PROBLEM: ${p}`);
  }
  if (report.ohifConsole.length) P('\nOHIF-code console messages:\n  ' + report.ohifConsole.join('\n  '));
  printVerdict();
}
main().catch(e => { console.error(e); process.exit(2); });
