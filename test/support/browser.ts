// Plays an HLS URL in headless Chromium (Debian's package, driven by playwright-core) with hls.js,
// and reports what a viewer would see: decoded size, how far playback got, stalls and fatal errors.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium, type Browser } from 'playwright-core';
import { requireExecutable } from './tools.js';

export interface PlaybackReport {
  width: number;
  height: number;
  /** Seconds of media played (currentTime advance) during the watch. */
  played: number;
  /** `waiting` events after playback had started: each one is a stall the viewer saw. */
  stalls: number;
  fatalErrors: string[];
  /** Rendition heights hls.js switched to, in order (level switches). */
  levels: number[];
  decodedFrames: number;
}

/** What the page keeps on `window` (see PAGE). */
interface PageWindow {
  play(url: string, forceLevel?: number): void;
  report: { fatalErrors: string[]; stalls: number; started: boolean; levels: number[] };
}

// The page.evaluate callbacks below run inside Chromium; the tests' TypeScript program has no DOM
// lib, so the little of the DOM they touch is declared here.
interface HTMLVideoElement {
  currentTime: number;
  videoWidth: number;
  videoHeight: number;
  getVideoPlaybackQuality(): { totalVideoFrames: number };
}
declare const window: unknown;
declare const document: { getElementById(id: string): unknown };
const PAGE = `<!doctype html><html><body><video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script>
  window.report = { fatalErrors: [], stalls: 0, started: false, levels: [] };
  const v = document.getElementById('v');
  v.addEventListener('playing', () => { window.report.started = true; });
  v.addEventListener('waiting', () => { if (window.report.started) window.report.stalls++; });
  window.play = (url, forceLevel) => {
    const hls = new Hls({ liveSyncDurationCount: 3 });
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.report.fatalErrors.push(d.type + ':' + d.details); });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => window.report.levels.push(hls.levels[d.level].height || 0));
    hls.on(Hls.Events.MANIFEST_PARSED, () => { if (forceLevel !== undefined) hls.currentLevel = forceLevel; v.play(); });
    hls.loadSource(url);
    hls.attachMedia(v);
    window.hls = hls;
  };
</script></body></html>`;

async function servePage(): Promise<{ url: string; server: Server }> {
  const hlsJs = await readFile(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'));
  const server = createServer((req, res) => {
    if (req.url === '/hls.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(hlsJs);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}/`, server };
}

/** Headless Chromium from Debian's package, quiet (no network of its own), allowed to autoplay. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: requireExecutable('chromium', 'chromium'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

/** Watches `hlsUrl` for `watchSeconds` after playback starts (waits up to 30 s for it to start). */
export async function watchInChromium(hlsUrl: string, watchSeconds: number, forceLevel?: number): Promise<PlaybackReport> {
  const { url, server } = await servePage();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.evaluate(([u, l]) => (window as unknown as PageWindow).play(u, l), [hlsUrl, forceLevel] as const);
    await page.waitForFunction(() => {
      const r = (window as unknown as PageWindow).report;
      return r.started || r.fatalErrors.length > 0;
    }, undefined, { timeout: 30_000 });
    const t0 = await page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime);
    await page.waitForTimeout(watchSeconds * 1000);
    return await page.evaluate((start) => {
      const v = document.getElementById('v') as HTMLVideoElement;
      const r = (window as unknown as PageWindow).report;
      return {
        width: v.videoWidth,
        height: v.videoHeight,
        played: v.currentTime - start,
        stalls: r.stalls,
        fatalErrors: r.fatalErrors,
        levels: r.levels,
        decodedFrames: v.getVideoPlaybackQuality().totalVideoFrames,
      };
    }, t0);
  } finally {
    await browser.close();
    server.close();
  }
}
