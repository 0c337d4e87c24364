// drive.js - opens a study in OHIF in headless Debian chromium, loads DICOM SEG
// series one after the other the way a radiologist does (double-click on the
// thumbnail, "Yes" on the viewport's prompt), and reads back what OHIF holds
// and what it shows.
//
//   node drive.js CONFIG.json
//
// CONFIG (written by integration/viewer_test.go):
//   base         http://127.0.0.1:PORT (OHIF + same-origin DICOMweb proxy)
//   studyUID     StudyInstanceUID to open
//   chromium     path of the browser (/usr/bin/chromium)
//   userDataDir  a fresh empty folder for the browser profile
//   outDir       where screenshots go
//   timeoutMs    limit for each wait
//   result       path of the JSON result file
//   segs         the SEGs to load, in order, each
//                { seriesUID, label, stepSOPs: [SOP UIDs of the CT slices to
//                  step through], screenshotSOPs: [SOP UIDs to screenshot] };
//                each SEG is removed again before the next one is loaded.
//
// The result has, per SEG: the segmentation's label and segments (number,
// label, colour); "held": per CT image of the viewport's stack, its SOP
// Instance UID, ImagePositionPatient and, per segment, the labelmap's pixel
// count and packed mask (1 bit per pixel, LSB first, row-major); "shown": per
// slice stepped through, the tinted pixels of the viewport's canvas, in total
// and by segment colour. Also console errors, page errors, failed HTTP
// responses and timings. Progress goes to stderr.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const t0 = Date.now();
const log = (...a) => process.stderr.write(`[drive +${((Date.now() - t0) / 1000).toFixed(2)}s] ${a.join(' ')}\n`);

async function waitFor(page, what, fn, arg) {
  const start = Date.now();
  try {
    await page.waitForFunction(fn, arg, { timeout: cfg.timeoutMs, polling: 100 });
  } catch (e) {
    throw new Error(`timed out after ${cfg.timeoutMs} ms waiting for ${what}: ${e.message.split('\n')[0]}`);
  }
  log(`${what}: ${Date.now() - start} ms`);
}

// Steps the active viewport to the CT image with this SOP Instance UID and
// waits until it is drawn.
async function showSOP(page, sop) {
  const ok = await page.evaluate(async sop => {
    const cs = window.cornerstone;
    const vpId = window.services.viewportGridService.getActiveViewportId();
    const vp = cs.getRenderingEngines()[0].getViewport(vpId);
    const i = vp.getImageIds().findIndex(id => cs.metaData.get('sopCommonModule', id).sopInstanceUID === sop);
    if (i < 0) return false;
    if (vp.getCurrentImageIdIndex() !== i) {
      const rendered = new Promise(r => vp.element.addEventListener(cs.Enums.Events.IMAGE_RENDERED, r, { once: true }));
      await vp.setImageIdIndex(i);
      await Promise.race([rendered, new Promise(r => setTimeout(r, 5000))]);
    }
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    return true;
  }, sop);
  if (!ok) throw new Error(`slice ${sop} is not in the viewport's stack`);
}

async function loadAndRead(page, s) {
  const timings = {};
  let mark = Date.now();
  const lap = name => { const now = Date.now(); timings[name] = now - mark; mark = now; };

  // The SEG's display set, found by its SeriesInstanceUID.
  await waitFor(page, `SEG display set ${s.label}`, uid => !!window.services?.displaySetService?.getActiveDisplaySets()
    .find(d => d.Modality === 'SEG' && d.SeriesInstanceUID === uid), s.seriesUID);
  const ds = await page.evaluate(uid => {
    const d = window.services.displaySetService.getActiveDisplaySets().find(x => x.Modality === 'SEG' && x.SeriesInstanceUID === uid);
    return { displaySetInstanceUID: d.displaySetInstanceUID, SeriesDescription: d.SeriesDescription };
  }, s.seriesUID);
  const segmentationId = ds.displaySetInstanceUID; // OHIF's segmentationId for a SEG display set

  // As a radiologist: double-click the SEG's thumbnail in the study browser,
  // then answer the viewport's prompt.
  const thumb = page.locator(`[id="thumbnail-${ds.displaySetInstanceUID}"]`);
  await thumb.waitFor({ state: 'visible', timeout: cfg.timeoutMs });
  await thumb.dblclick();
  const yes = page.getByRole('button', { name: 'Yes', exact: true });
  await yes.waitFor({ state: 'visible', timeout: cfg.timeoutMs });
  const promptText = (await page.getByText('Do you want to open this Segmentation?').first()
    .textContent({ timeout: 2000 }).catch(() => '')) || '';
  await page.screenshot({ path: path.join(cfg.outDir, `${s.label}-1-prompt.png`) });
  await yes.click();
  lap('promptMs');

  // Hydrated: a labelmap image exists for every CT image, the representation is
  // on the viewport, and the viewport shows an image again (it is re-created).
  await waitFor(page, `SEG ${s.label} labelmap on the viewport`, id => {
    const ss = window.services.segmentationService;
    const seg = ss.getSegmentation(id);
    const vpId = window.services.viewportGridService.getActiveViewportId();
    const ids = seg?.representationData?.Labelmap?.imageIds;
    const vp = window.cornerstone.getRenderingEngines()[0]?.getViewport(vpId);
    return !!(ids?.length && ids.every(i => window.cornerstone.cache.getImage(i)) && vp?.getCurrentImageId?.() &&
      ss.getSegmentationRepresentations(vpId, { segmentationId: id }).length > 0);
  }, segmentationId);
  lap('hydrateMs');

  // Soft-tissue window (OHIF's hotkey "1", W 400 L 40), as a radiologist picks
  // it: IRCAD's CT carries WindowWidth 0.
  const box = await page.locator('.cornerstone-canvas').first().boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2); // hotkeys act on the viewport under the pointer
  await page.keyboard.press('1');
  await waitFor(page, 'soft-tissue window', () => {
    const vpId = window.services.viewportGridService.getActiveViewportId();
    const v = window.cornerstone.getRenderingEngines()[0].getViewport(vpId)?.getProperties?.().voiRange;
    return !!v && Math.abs(v.upper - v.lower - 400) <= 1.5; // DICOM linear window: 399 wide
  });

  // 1. What OHIF holds: the labelmap of every CT image of the stack, read from
  //    cornerstone's cache (no rendering involved).
  const held = await page.evaluate(id => {
    const cs = window.cornerstone, cst = window.cornerstoneTools;
    const { segmentationService, viewportGridService } = window.services;
    const viewportId = viewportGridService.getActiveViewportId();
    const vp = cs.getRenderingEngines()[0].getViewport(viewportId);
    const seg = segmentationService.getSegmentation(id);
    const segments = Object.values(seg.segments).filter(Boolean).map(g => ({
      segmentIndex: g.segmentIndex, label: g.label,
      color: segmentationService.getSegmentColor(viewportId, id, g.segmentIndex) }));
    const b64 = b => { let s = ''; for (let k = 0; k < b.length; k += 8192) s += String.fromCharCode(...b.subarray(k, k + 8192)); return btoa(s); };
    const slices = vp.getImageIds().map((imageId, index) => {
      const counts = {}, masks = {};
      for (const lm of [].concat(cst.segmentation.getLabelmapImageIdsForImageId(imageId, id) || [])) {
        const px = cs.cache.getImage(lm).getPixelData();
        for (let k = 0; k < px.length; k++) {
          const v = px[k]; if (!v) continue;
          counts[v] = (counts[v] || 0) + 1;
          (masks[v] ||= new Uint8Array(Math.ceil(px.length / 8)))[k >> 3] |= 1 << (k & 7); // 1 bit/pixel, LSB first
        }
      }
      const plane = cs.metaData.get('imagePlaneModule', imageId);
      return { index, sopInstanceUID: cs.metaData.get('sopCommonModule', imageId).sopInstanceUID,
        ipp: plane.imagePositionPatient, rows: plane.rows, columns: plane.columns, counts,
        masks: Object.fromEntries(Object.entries(masks).map(([k, b]) => [k, b64(b)])) };
    });
    return { label: seg.label, segments, slices };
  }, segmentationId);
  lap('readLabelmapsMs');

  // 2. What OHIF shows: step through the slices as a radiologist scrolls and
  //    count the tinted pixels of the viewport's canvas. The CT is grey
  //    (r = g = b); a pixel blended with a segment's colour keeps that colour's
  //    chroma direction (pixel - mean(pixel) = alpha * (colour - mean(colour))),
  //    so each tinted pixel is attributed to the segment whose colour has the
  //    nearest chroma direction.
  //    Drawing is software WebGL (SwiftShader) in headless chromium, and its
  //    cost grows with the canvas: step in a smaller window, then restore it.
  await page.setViewportSize(cfg.stepWindow || { width: 800, height: 500 });
  await waitFor(page, 'smaller viewport', w => {
    const vpId = window.services.viewportGridService.getActiveViewportId();
    return window.cornerstone.getRenderingEngines()[0].getViewport(vpId).canvas.width < w;
  }, (cfg.stepWindow || { width: 800 }).width);
  const shown = await page.evaluate(async ({ id, segments, sops }) => {
    const cs = window.cornerstone;
    const viewportId = window.services.viewportGridService.getActiveViewportId();
    const getVp = () => cs.getRenderingEngines()[0].getViewport(viewportId); // never keep a viewport reference
    const chroma = c => { const m = (c[0] + c[1] + c[2]) / 3; const v = [c[0] - m, c[1] - m, c[2] - m];
      const n = Math.hypot(...v) || 1; return v.map(x => x / n); };
    const dirs = segments.map(g => chroma(g.color));
    const want = new Set(sops);
    const imageIds = getVp().getImageIds();
    const slices = [];
    let renderMs = 0;
    for (let i = 0; i < imageIds.length; i++) {
      const sop = cs.metaData.get('sopCommonModule', imageIds[i]).sopInstanceUID;
      if (!want.has(sop)) continue;
      const vp = getVp();
      const t = performance.now();
      if (vp.getCurrentImageIdIndex() !== i) {
        const rendered = new Promise(r => vp.element.addEventListener(cs.Enums.Events.IMAGE_RENDERED, r, { once: true }));
        await vp.setImageIdIndex(i);
        await Promise.race([rendered, new Promise(r => setTimeout(r, 5000))]);
      }
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
      renderMs += performance.now() - t;
      const cur = getVp();
      const c = cur.canvas;
      const d = c.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, c.width, c.height).data;
      let tinted = 0;
      const bySegment = new Array(segments.length).fill(0);
      for (let k = 0; k < d.length; k += 4) {
        const r = d[k], g = d[k + 1], b = d[k + 2];
        if (Math.abs(r - g) <= 8 && Math.abs(r - b) <= 8 && Math.abs(g - b) <= 8) continue;
        tinted++;
        const m = (r + g + b) / 3, v0 = r - m, v1 = g - m, v2 = b - m;
        let best = 0, bestDot = -Infinity;
        for (let s = 0; s < dirs.length; s++) {
          const dot = v0 * dirs[s][0] + v1 * dirs[s][1] + v2 * dirs[s][2];
          if (dot > bestDot) { bestDot = dot; best = s; }
        }
        bySegment[best]++;
      }
      slices.push({ index: cur.getCurrentImageIdIndex(),
        sopInstanceUID: cs.metaData.get('sopCommonModule', cur.getCurrentImageId()).sopInstanceUID, tinted,
        tintedBySegment: Object.fromEntries(segments.map((g, s) => [g.segmentIndex, bySegment[s]])) });
    }
    const c = getVp().canvas;
    return { slices, canvas: [c.width, c.height], renderMs: Math.round(renderMs) };
  }, { id: segmentationId, segments: held.segments, sops: s.stepSOPs || [] });
  lap('stepMs');
  await page.setViewportSize({ width: 1280, height: 800 });
  await waitFor(page, 'full viewport', () => {
    const vpId = window.services.viewportGridService.getActiveViewportId();
    return window.cornerstone.getRenderingEngines()[0].getViewport(vpId).canvas.width > 900;
  });
  log(`SEG ${s.label}: stepped through ${shown.slices.length} slices (${shown.renderMs} ms drawing)`);

  // Screenshots of chosen slices with every segment shown.
  const screenshots = [];
  for (const sop of s.screenshotSOPs || []) {
    await showSOP(page, sop);
    await page.waitForTimeout(200);
    const file = path.join(cfg.outDir, `${s.label}-slice-${screenshots.length / 2 + 1}.png`);
    await page.screenshot({ path: file });
    const viewportFile = file.replace(/\.png$/, '-viewport.png');
    await page.locator('.cornerstone-canvas').first().screenshot({ path: viewportFile });
    screenshots.push(file, viewportFile);
  }
  lap('screenshotsMs');

  // Unload it, so that the next SEG is shown alone.
  await page.evaluate(id => window.services.segmentationService.remove(id), segmentationId);
  await waitFor(page, `SEG ${s.label} removed`, id => !window.services.segmentationService.getSegmentation(id), segmentationId);

  return { seriesUID: s.seriesUID, label: s.label, segmentationId, seriesDescription: ds.SeriesDescription, promptText,
    segmentationLabel: held.label, segments: held.segments, held: held.slices, shown: shown.slices,
    canvas: shown.canvas, screenshots, timings };
}

async function main() {
  const timings = {};
  const problems = { consoleErrors: [], pageErrors: [], httpErrors: [] };
  let mark = Date.now();
  const lap = name => { const now = Date.now(); timings[name] = now - mark; mark = now; };
  const result = { segs: [], timings, problems };

  const ctx = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  lap('launchMs');
  const page = ctx.pages()[0] || (await ctx.newPage());
  try {
    page.on('console', m => { if (m.type() === 'error') problems.consoleErrors.push(m.text().slice(0, 500)); });
    page.on('pageerror', e => problems.pageErrors.push(String(e).slice(0, 500)));
    page.on('response', r => { if (r.status() >= 400) problems.httpErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`); });

    await page.goto(`${cfg.base}/viewer?StudyInstanceUIDs=${encodeURIComponent(cfg.studyUID)}`);
    await waitFor(page, 'CT image rendered', () => {
      const vp = window.cornerstone?.getRenderingEngines?.()[0]?.getViewports?.()[0];
      const id = vp?.getCurrentImageId?.();
      return !!(id && window.cornerstone.cache.getImage(id));
    });
    lap('ctRenderedMs');
    await page.screenshot({ path: path.join(cfg.outDir, '0-study.png') });

    for (const s of cfg.segs) {
      result.segs.push(await loadAndRead(page, s));
      lap(`seg-${s.label}-Ms`);
    }
    fs.writeFileSync(cfg.result, JSON.stringify(result));
    log('done', JSON.stringify(timings));
  } catch (e) {
    const file = path.join(cfg.outDir, 'failed.png');
    await page.screenshot({ path: file }).catch(() => {});
    result.failed = String(e && e.message || e);
    result.failedScreenshot = file;
    fs.writeFileSync(cfg.result, JSON.stringify(result));
    throw e;
  } finally {
    await ctx.close();
  }
}

main().catch(e => { log('FAILED:', e && e.stack || e); process.exit(1); });
