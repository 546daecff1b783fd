// A service written outside libs/services (examples/pixelate), run the way the process runtime
// runs it: `node apps/worker/dist/main.js` with LIVEMESH_STAGE_MODULE, a real nats-server, ffmpeg.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUCKETS, SEGMENT_HEADERS, subjects, type ChainSpec, type SegmentMeta } from '@livemesh/contracts';
import { Bus, ensureServiceConsumer, ensureTopology, publishSegment, readSegment, type BusHeaders } from '@livemesh/bus';
import { probe, runFfmpeg, streamStartSeconds, testSourceArgs } from '@livemesh/media';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const WORKER = join(ROOT, 'apps/worker/dist/main.js');
const MODULE = join(ROOT, 'examples/pixelate/dist/index.js');
const STREAM = 'px1';

/** Brightness range inside each 12x12 block (its inner 8x8, away from coding edges) of the 96x24 top-left corner. */
async function blockRanges(segment: Uint8Array): Promise<number[]> {
  const { stdout: px } = await runFfmpeg(['-hide_banner', '-loglevel', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-frames:v', '1', '-vf', 'crop=96:24:0:0', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { input: segment, timeoutMs: 30_000 });
  const ranges: number[] = [];
  for (let by = 0; by < 2; by++) {
    for (let bx = 0; bx < 8; bx++) {
      let lo = 255;
      let hi = 0;
      for (let y = by * 12 + 2; y < by * 12 + 10; y++) {
        for (let x = bx * 12 + 2; x < bx * 12 + 10; x++) {
          lo = Math.min(lo, px[y * 96 + x]!);
          hi = Math.max(hi, px[y * 96 + x]!);
        }
      }
      ranges.push(hi - lo);
    }
  }
  return ranges;
}

function startWorker(env: Record<string, string>): { child: ChildProcess; output: string[]; exit: Promise<number | null> } {
  const output: string[] = [];
  // Stage modules are allowed only under LIVEMESH_STAGE_DIR; the example lives under examples/.
  const child = spawn(process.execPath, [WORKER], { env: { PATH: process.env.PATH ?? '', LIVEMESH_STAGE_DIR: join(ROOT, 'examples'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output, exit };
}

describe('a stage module from outside libs/services in a worker process', () => {
  let nats: NatsServer;
  let bus: Bus;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // `npm test` builds the workspaces first; the example is not one, so build it (and anything stale) here.
    const built = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'apps/worker', 'examples/pixelate'], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`build failed:\n${built.stdout}${built.stderr}`);
    dir = await mkdtemp(join(tmpdir(), 'livemesh-example-e2e-'));
    nats = await startNatsServer();
    bus = await Bus.connect({ url: nats.url, name: 'stage-example-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: 600 });
    // The orchestrator creates a service's consumer before its workers start; this test starts the worker by hand.
    await ensureServiceConsumer(bus, 'pixelate', { ackWaitMs: 30_000, maxDeliver: 3 });
  }, 180_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('refuses a module whose default export is not a stage, with exit code 2', async () => {
    const w = startWorker({ NATS_URL: nats.url, LIVEMESH_STAGE_MODULE: join(ROOT, 'examples/pixelate/dist/pixelate.filter.js') });
    children.push(w.child);
    expect(await w.exit).toBe(2);
    expect(w.output.join('')).toMatch(/has no stage as its default export/);
  }, 30_000);

  it('refuses a data: URL or a module outside LIVEMESH_STAGE_DIR with exit code 2, running none of it', async () => {
    const marker = join(dir, 'ran');
    const code = `import{writeFileSync}from'node:fs';writeFileSync(${JSON.stringify(marker)},'x');export default {}`;
    for (const spec of [`data:text/javascript,${encodeURIComponent(code)}`, join(ROOT, 'apps/worker/dist/main.js')]) {
      const w = startWorker({ NATS_URL: nats.url, LIVEMESH_SERVICE: 'pixelate', LIVEMESH_STAGE_MODULE: spec });
      children.push(w.child);
      expect(await w.exit).toBe(2);
      expect(w.output.join('')).toMatch(/LIVEMESH_STAGE_MODULE is not allowed/);
    }
    await expect(readFile(marker)).rejects.toThrow(/ENOENT/);
  }, 30_000);

  it('pixelates segments on the source timeline and drains on SIGTERM', async () => {
    // A 2 s segment starting at 10 s, as if cut from the middle of a stream.
    const clip = join(dir, 'seg.ts');
    await runFfmpeg(testSourceArgs({ width: 320, height: 240, fps: 25, durationSec: 2, startSeconds: 10, output: { file: clip }, realtime: false, format: 'mpegts' }), { timeoutMs: 60_000 });
    const data = new Uint8Array(await readFile(clip));
    const inputProbe = await probe(data, { timeoutMs: 30_000, format: 'mpegts' });

    const chain: ChainSpec = {
      streamId: STREAM,
      version: 1,
      updatedAt: new Date().toISOString(),
      // This suite is about the stage, not latency: a budget no queue of fixtures on a busy machine reaches.
      latencyBudgetMs: 300_000,
      hops: [{ index: 0, service: 'pixelate', params: { x: 0, y: 0, w: 96, h: 24, blockSize: 12 }, subject: subjects.segment('pixelate', STREAM, 0), next: null }],
    };
    await bus.store(BUCKETS.chains).put(STREAM, chain);
    const outputs: { headers: BusHeaders | undefined; data: Uint8Array }[] = [];
    const sub = bus.subscribe(subjects.output(STREAM, 'main'));
    void (async () => {
      for await (const m of sub) outputs.push({ headers: m.headers, data: m.data });
    })();
    await bus.flush();

    const w = startWorker({ NATS_URL: nats.url, LIVEMESH_SERVICE: 'pixelate', LIVEMESH_STAGE_MODULE: MODULE, MEDIA_TIMEOUT_MS: '60000' });
    children.push(w.child);
    const workers = bus.store(BUCKETS.workers);
    await waitFor(`the worker's heartbeat (worker output: ${w.output.join('')})`, 30_000, async () => (await workers.keys('pixelate.>')).length === 1);

    for (const seq of [0, 1]) {
      const meta: SegmentMeta = { streamId: STREAM, seq, hop: 0, rendition: 'main', pts: 10, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1 };
      await publishSegment(bus, subjects.segment('pixelate', STREAM, 0), { meta, data }, { inlineLimit: 900 * 1024 });
    }
    await waitFor('2 pixelated segments', 60_000, () => outputs.length >= 2);

    const seg = await readSegment(bus, outputs[0]!);
    expect(outputs.map((o) => o.headers?.get(SEGMENT_HEADERS.seq)).sort()).toEqual(['0', '1']);
    const out = await probe(seg.data, { timeoutMs: 30_000, format: 'mpegts' });
    expect(out.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    for (const kind of ['video', 'audio'] as const) {
      expect(streamStartSeconds(out, kind)).toBeCloseTo(streamStartSeconds(inputProbe, kind)!, 3);
    }
    // Over the burnt-in clock (top left), every 12x12 block comes out flat where the source is busy.
    const inner = await blockRanges(data);
    const pixelated = await blockRanges(seg.data);
    expect(Math.max(...inner)).toBeGreaterThan(60);
    expect(Math.max(...pixelated)).toBeLessThanOrEqual(12);

    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);
    expect(await workers.keys('pixelate.>')).toEqual([]);
  }, 150_000);
});
