// The console with 200 streams (issue 15: pages stay usable): an in-process orchestrator on a real
// nats-server (no workers: what is measured is the console and its routes, not media), 200 started
// streams, the list page in Chromium. Records how long the page takes to show them all and how
// many live status events per second it takes in, to test-results/console/figures-200-streams.json
// and the log. No timed assertion (speed targets belong in the bench); what must hold is that
// every stream is listed, every event arrives and the page still answers a search.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { startInProcessOrchestrator, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';
import { REPO_ROOT } from '../support/processes.js';

const SHOTS = join(REPO_ROOT, 'test-results', 'console');
const N = 200;

declare const window: { __livemesh: { firstListMs: number; events: number } };
declare const sessionStorage: { setItem(k: string, v: string): void };

describe('the console with 200 streams', () => {
  let o: InProcessOrchestrator;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    [o, browser] = await Promise.all([startInProcessOrchestrator('console-200', { MAX_LIVE_STREAMS: String(N + 10) }), launchChromium()]);
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await o?.close();
  });

  it('lists them all, takes in every live event and still answers a search (load time and event rate recorded)', async () => {
    const ids = Array.from({ length: N }, (_, i) => `many-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < ids.length; i += 25) {
      await Promise.all(
        ids.slice(i, i + 25).map(async (id) => {
          const res = await o.fetch('/api/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, stages: [{ service: 'passthrough' }] }) });
          if (res.status !== 201) throw new Error(`start ${id}: ${res.status} ${await res.text()}`);
        }),
      );
    }
    // Signed in as the console's sign-in page does: the token in this tab's sessionStorage.
    await page.goto(`${o.base}/console/index.html#/none`);
    await page.evaluate((t) => sessionStorage.setItem('livemesh.token', t), o.token);
    const t0 = Date.now();
    await page.goto(`${o.base}/#/streams`);
    await page.getByText(new RegExp(`^${N} of ${N} streams$`)).waitFor({ timeout: 30_000 });
    const loadMs = Date.now() - t0;
    const firstListMs = await page.evaluate(() => window.__livemesh.firstListMs);
    expect(await page.getByRole('row', { name: /^Stream many-/ }).count()).toBe(N);
    await page.getByLabel('Live updates').getByText('live', { exact: true }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'streams-200.png') });

    // 1,000 status events, 5 per stream, as fast as the bus takes them; the page counts what it got.
    const before = await page.evaluate(() => window.__livemesh.events);
    const sent = N * 5;
    const s0 = Date.now();
    for (let k = 0; k < 5; k++) {
      await Promise.all(ids.map((id) => o.bus.publish(`lm.evt.stream.${id}.detection`, JSON.stringify({ streamId: id, kind: 'detection', at: new Date().toISOString(), data: { type: 'scene', score: k } }))));
    }
    await page.waitForFunction((n) => window.__livemesh.events >= n, before + sent, { timeout: 30_000 });
    const seconds = (Date.now() - s0) / 1000;
    const figures = { streams: N, pageLoadToFullListMs: loadMs, firstListRenderMs: Math.round(firstListMs), events: sent, eventsPerSecondTakenIn: Math.round(sent / seconds) };
    await writeFile(join(SHOTS, 'figures-200-streams.json'), JSON.stringify(figures, null, 2));
    console.log(`console with ${N} streams: ${JSON.stringify(figures)}`);
    expect((await page.evaluate(() => window.__livemesh.events)) - before).toBe(sent);
    await page.getByLabel('Search streams').fill('many-19');
    await page.getByText(new RegExp(`^10 of ${N} streams$`)).waitFor();
  }, 120_000);
});
