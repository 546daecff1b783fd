// The operator's console (issue 15) in real Chromium on a real mesh: sign in with the admin token,
// start a stream from the console and publish to it, open it, watch the preview play, read the
// chain graph, apply a chain change, scale a service, look at the bus and health views, stop the
// stream. Screenshots of every view go to test-results/console/ (gitignored); console-200 has the
// page with 200 streams. On the same mesh: every metric deploy/monitoring's Grafana dashboard and
// alert rules name is on /metrics of the orchestrator, ingest, delivery or a worker.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { TEST_ADMIN_TOKEN } from '../support/auth.js';
import { generateClip, publishRtmp } from '../support/media.js';
import { startMesh, type Mesh } from '../support/mesh.js';
import { freePort } from '../support/free-port.js';
import { REPO_ROOT, spawnApp } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const SHOTS = join(REPO_ROOT, 'test-results', 'console');
const ID = 'console-demo';

// page.evaluate callbacks run in Chromium; the tests' TypeScript has no DOM lib.
declare const document: { querySelector(s: string): { currentTime: number; error: unknown; readyState: number } | null };

describe('the operator console in Chromium', () => {
  let mesh: Mesh;
  let browser: Browser;
  let page: Page;
  let dir: string;
  let clip: string;
  let encoder: Promise<{ code: number | null; stderr: string }> | undefined;
  const blocked: string[] = [];
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-console-'));
    await mkdir(SHOTS, { recursive: true });
    // Long enough for the whole walk through; small, so the two workers keep up on a busy machine.
    [clip] = await Promise.all([
      generateClip({ seconds: 50, width: 480, height: 270, fps: 25, out: join(dir, 'src.flv') }),
      (async () => (mesh = await startMesh()))(),
      (async () => (browser = await launchChromium()))(),
    ]);
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // Anything the page's Content-Security-Policy blocked (Chromium reports each on the console).
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await mesh?.stop();
    await encoder;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('signs in, starts and follows a stream, plays it, changes its chain, scales a service and stops it', async () => {
    const served = await page.goto(`${mesh.apiUrl}/`);
    // The page that will hold the token runs only its own bundle and talks only to this origin.
    expect(served?.headers()['content-security-policy']).toMatch(/script-src 'self';.*connect-src 'self'/);
    // A wrong token is refused on the sign-in page, and nothing else shows.
    await page.getByLabel('API token').fill('lm_nobody_' + 'x'.repeat(43));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText(/not accepted/).waitFor();
    await page.getByLabel('API token').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Streams' }).waitFor();
    expect(page.url()).not.toContain(TEST_ADMIN_TOKEN);

    // Start it from the console; the answer shows the publish URL with its key once.
    await page.getByText('Start a stream').click();
    await page.getByLabel('Stream id').fill(ID);
    await page.getByRole('button', { name: 'Start stream', exact: true }).click();
    const started = await page.getByRole('status').filter({ hasText: `Started ${ID}` }).textContent();
    const rtmp = /rtmp:\/\/\S+\/live\/[A-Za-z0-9_-]{20,}/.exec(started ?? '')?.[0];
    expect(rtmp).toBeDefined();
    encoder = publishRtmp(clip, rtmp!, { realtime: true });

    const row = page.getByRole('row', { name: `Stream ${ID}` });
    await row.getByText('live').waitFor({ timeout: 30_000 });
    await expectText(row, /watermark → transcode/);
    // Segments come out (counted from JetStream, refreshed by the live events and every 5 s).
    await row.getByRole('cell').nth(6).filter({ hasText: /^[1-9]\d*$/ }).waitFor({ timeout: 30_000 });
    // Its input bitrate, from the cursor ingest writes after each published segment.
    await row.getByLabel(`Input bitrate of ${ID}`).filter({ hasText: /^[1-9]\d* kb\/s$/ }).waitFor({ timeout: 15_000 });
    await shot('streams');

    await row.getByRole('link', { name: ID }).click();
    await page.getByRole('heading', { name: new RegExp(`Stream ${ID}`) }).waitFor();
    const chain = page.getByRole('list', { name: 'Chain' });
    expect(await chain.getByRole('listitem').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))).toEqual(['ingest', 'Hop 0: watermark', 'Hop 1: transcode', 'delivery']);

    // The preview: a <video> whose time advances, with no playback error.
    const video = page.locator('video[aria-label="Live preview"]');
    await video.waitFor();
    await page.waitForFunction(() => (document.querySelector('video')?.currentTime ?? 0) > 0.5, undefined, { timeout: 30_000 });
    const t0 = await page.evaluate(() => document.querySelector('video')!.currentTime);
    await page.waitForFunction((start) => document.querySelector('video')!.currentTime > start + 2, t0, { timeout: 15_000 });
    expect(await page.evaluate(() => document.querySelector('video')!.error)).toBeNull();
    expect(await page.getByText(/playback error/).count()).toBe(0);
    // The event log has what ingest and the orchestrator announced.
    const log = page.getByRole('list', { name: 'Event log' });
    for (const kind of ['chain-ready', 'publishing']) await log.getByText(kind, { exact: true }).first().waitFor();
    await shot('stream');

    // A live chain change: add the thumbnail service; the graph shows the new hop, then a thumbnail.
    await page.getByLabel('Chain stages (JSON)').fill(JSON.stringify([{ service: 'watermark', params: { text: 'console' } }, { service: 'transcode' }, { service: 'thumbnail', params: { everySeconds: 2 } }]));
    await page.getByRole('button', { name: 'Apply chain change' }).click();
    await page.getByRole('status').filter({ hasText: 'Chain version 2 applied' }).waitFor();
    await chain.getByRole('listitem', { name: 'Hop 2: thumbnail' }).waitFor();
    expect(await chain.getByRole('listitem').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))).toEqual(['ingest', 'Hop 0: watermark', 'Hop 1: transcode', 'Hop 2: thumbnail', 'delivery']);
    await page.getByRole('img', { name: `Latest thumbnail of ${ID}` }).waitFor({ timeout: 30_000 });
    await log.getByText('chain-changed', { exact: true }).first().waitFor();
    await shot('stream-changed');

    // Scale a service and see its replica count change.
    await page.getByRole('link', { name: 'Services' }).click();
    // Processing time per segment, from the workers' heartbeats: the service's mean and each worker's.
    const watermarkRow = page.getByRole('row', { name: 'Service watermark' });
    await watermarkRow.getByLabel('Time per segment of watermark').filter({ hasText: /^[1-9]\d* ms$/ }).waitFor({ timeout: 15_000 });
    await watermarkRow.getByText(/: .* ago, [1-9]\d* ms per segment$/).first().waitFor();
    const thumbnailRow = page.getByRole('row', { name: 'Service thumbnail' });
    const replicas = thumbnailRow.getByLabel('Replicas of thumbnail');
    await replicas.filter({ hasText: /^1$/ }).waitFor({ timeout: 20_000 });
    await thumbnailRow.getByLabel('Replica count for thumbnail').fill('2');
    await thumbnailRow.getByRole('button', { name: 'Scale thumbnail' }).click();
    await replicas.filter({ hasText: /^2$/ }).waitFor({ timeout: 20_000 });
    await shot('services');

    await page.getByRole('link', { name: 'Bus' }).click();
    for (const s of ['LM_SEG', 'LM_OUT', 'LM_EVT']) await page.getByRole('row', { name: `Stream ${s}` }).waitFor();
    await page.getByRole('row', { name: 'Consumer svc_watermark' }).waitFor();
    await expectText(page.getByLabel('NATS connection'), /connected, round trip/);
    await shot('bus');

    await page.getByRole('link', { name: 'Health' }).click();
    await expectText(page.getByLabel('Health report'), /"status": "ok"/);
    for (const c of ['orchestrator', 'nats', 'delivery']) await page.getByRole('row', { name: `Component ${c}` }).getByText('up', { exact: true }).waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    await shot('health');

    // Stop it from its own page.
    await page.goto(`${mesh.apiUrl}/#/stream/${ID}`);
    await page.getByRole('button', { name: `Stop stream ${ID}` }).click();
    await page.getByRole('heading', { name: new RegExp(`Stream ${ID} (stopping|ended)`) }).waitFor({ timeout: 20_000 });
    expect((await mesh.api('GET', `/api/streams/${ID}`)).body.state).toMatch(/stopping|ended/);
    await log.getByText('stopping', { exact: true }).first().waitFor({ timeout: 20_000 });
    // The whole walk through (preview included) ran within the policy.
    expect(blocked).toEqual([]);
  }, 150_000);

  it('serves every metric the Grafana dashboard and the Prometheus alert rules name (deploy/monitoring)', async () => {
    const dashboard = await readFile(join(REPO_ROOT, 'deploy', 'monitoring', 'grafana-dashboard.json'), 'utf8');
    const rules = await readFile(join(REPO_ROOT, 'deploy', 'monitoring', 'alerts.yml'), 'utf8');
    const exprs = [...(JSON.parse(dashboard) as { panels: { targets: { expr: string }[] }[] }).panels.flatMap((p) => p.targets.map((t) => t.expr)), ...[...rules.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!)];
    const referenced = [...new Set(exprs.flatMap((e) => e.match(/\blivemesh_[a-z0-9_]+/g) ?? []))].sort();
    // The process runtime's workers serve no /metrics (they would share one STAGE_METRICS_PORT):
    // one more thumbnail replica by hand, with a port of its own, serves the workers' metrics.
    const metricsPort = await freePort();
    const creds = await mesh.nats.auth!.credsFile({ role: 'worker', service: 'thumbnail', workerId: 'metrics-probe' });
    const worker = spawnApp('worker', { NATS_URL: mesh.nats.url, NATS_CREDS: creds, LIVEMESH_SERVICE: 'thumbnail', STAGE_METRICS_PORT: String(metricsPort) });
    try {
      const scrape = async (url: string, auth = false) => {
        const res = await fetch(url, auth ? { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } } : {});
        if (!res.ok) throw new Error(`${url}: ${res.status}`);
        return res.text();
      };
      const texts = [
        await scrape(`${mesh.apiUrl}/metrics`, true),
        await scrape(`http://127.0.0.1:${mesh.env.INGEST_HTTP_PORT}/metrics`),
        await scrape(`http://127.0.0.1:${mesh.env.DELIVERY_PORT}/metrics`),
        await waitFor('the probe worker to serve /metrics', 30_000, () => scrape(`http://127.0.0.1:${metricsPort}/metrics`), { retryErrors: true, intervalMs: 250, detail: () => worker.tail(20) }),
      ];
      const exposed = new Set(texts.flatMap((t) => [...t.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!)));
      const missing = referenced.filter((n) => !exposed.has(n) && !exposed.has(n.replace(/_(bucket|sum|count)$/, '')));
      expect(referenced.length).toBeGreaterThan(15);
      expect(missing).toEqual([]);
    } finally {
      await worker.stop();
    }
  }, 60_000);

  it('shows a banner on every view when delivery is down', async () => {
    await page.goto(`${mesh.apiUrl}/#/streams`);
    await page.getByRole('heading', { name: 'Streams' }).waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    await mesh.stopApp('delivery', 5_000);
    await page.getByRole('alert').filter({ hasText: /delivery is down/ }).waitFor({ timeout: 20_000 });
    await page.getByRole('link', { name: 'Health' }).click();
    await page.getByRole('row', { name: 'Component delivery' }).getByText('down', { exact: true }).waitFor();
    await shot('health-delivery-down');
  }, 60_000);
});

async function expectText(locator: { textContent(): Promise<string | null> }, re: RegExp): Promise<void> {
  expect(await locator.textContent()).toMatch(re);
}
