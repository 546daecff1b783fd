// Issue 13's quotas and record lifetimes on the orchestrator: a flood of 1,000 starts (100 in flight at once)
// with a 2 MB body and a hostile schema in it, per-kind quotas (pulls, renditions) over HTTP and
// platform events, the purge of a stopped stream's queued segments, and expiry of ended records.
// Real nats-server and orchestrator; only the container runtime is a fake that starts nothing, so
// whatever is put on a stream's hop subject stays queued there until the orchestrator purges it.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { BUCKETS, STREAMS, hashStreamKey, statusKey, subjects, type StreamEvent } from '@livemesh/contracts';
import { JsonStore, type Bus } from '@livemesh/bus';
import { startInProcessOrchestrator, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';
import { waitFor } from '../support/wait.js';
import { TEST_ADMIN_TOKEN, authFetch } from '../support/auth.js';

/**
 * Fires `n` starts from a thread of its own, `concurrency` in flight at once, the way a platform's
 * pool of clients would (100 concurrent starts still race for the last slots): the answers are
 * parsed off the orchestrator's event loop, so /health probed from the main thread (the
 * orchestrator's) measures the orchestrator alone. Resolves with the count per status and the
 * first body of each status.
 */
function floodStarts(url: string, n: number, concurrency: number): Promise<{ counts: Record<string, number>; samples: Record<string, unknown> }> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { url, n, concurrency, token } = workerData;
    const counts = {}, samples = {};
    let next = 0;
    const client = async () => {
      while (next < n) {
        const i = next++;
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
          body: JSON.stringify({ id: 'flood-' + i, stages: [{ service: 'passthrough' }] }) });
        const body = await res.json();
        const key = res.status + (body.limit ? ' ' + body.limit : '');
        counts[key] = (counts[key] || 0) + 1;
        if (!(key in samples)) samples[key] = body;
      }
    };
    Promise.all(Array.from({ length: concurrency }, client))
      .then(() => parentPort.postMessage({ counts, samples }), (e) => parentPort.postMessage({ error: String(e) }));
  `;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: { url, n, concurrency, token: TEST_ADMIN_TOKEN } });
    worker.once('message', (m: { error?: string; counts: Record<string, number>; samples: Record<string, unknown> }) => {
      void worker.terminate();
      if (m.error) reject(new Error(m.error));
      else resolve(m);
    });
    worker.once('error', reject);
  });
}

const MAX_LIVE = 20;
/** Requests in flight at once: a platform's pool of clients, each sending its next start when answered. */
const FLOOD_CLIENTS = 100;
const JSON_HEADERS = { 'content-type': 'application/json' };
const LADDER3 = [
  { name: 'r1', width: 320, height: 180 },
  { name: 'r2', width: 480, height: 270 },
  { name: 'r3', width: 640, height: 360 },
];

describe('orchestrator quotas and record expiry (real NATS)', () => {
  let orchestrator: InProcessOrchestrator | undefined;
  let bus: Bus;
  let base: string;
  let events: StreamEvent[];

  beforeAll(async () => {
    orchestrator = await startInProcessOrchestrator('orchestrator-quotas-e2e', {
      MAX_LIVE_STREAMS: String(MAX_LIVE),
      MAX_PULLS: '2',
      MAX_RENDITIONS_PER_STREAM: '2',
      // Nothing publishes here: the idle end has its own test on a real mesh.
      STREAM_IDLE_TIMEOUT_S: '0',
      STREAM_RECORD_TTL_S: '2',
    });
    ({ bus, base, events } = orchestrator);
  });

  // Each test starts with no live stream, whatever the one before left.
  afterEach(async () => {
    await Promise.all((await liveIds()).map((id) => authFetch(`${base}/api/streams/${id}`, { method: 'DELETE' })));
  });

  afterAll(async () => {
    await orchestrator?.close();
  });

  const post = (path: string, body: unknown) => authFetch(`${base}${path}`, { method: 'POST', headers: JSON_HEADERS, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const postJson = async (path: string, body: unknown) => {
    const res = await post(path, body);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const liveIds = async () => ((await (await authFetch(`${base}/api/streams`)).json()) as { id: string; state: string }[]).filter((s) => s.state === 'live').map((s) => s.id);
  const queued = async (filter: string) => Object.values((await bus.streamInfo(STREAMS.segments, { subjects: filter })).subjects).reduce((a, b) => a + b, 0);

  it('answers 1,000 starts (100 at a time), a 2 MB body and a hostile schema with 201s up to the limit and 429 / 413 / 422, /health within 1 s throughout', async () => {
    let flooding = true;
    const healthMs: number[] = [];
    const healthStatus = new Set<number>();
    const slowest: [number, number][] = [];
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const t0 = Date.now();
    const probe = (async () => {
      while (flooding) {
        const t = Date.now();
        const res = await fetch(`${base}/health`).catch(() => undefined);
        await res?.text();
        healthMs.push(Date.now() - t);
        slowest.push([t - t0, Date.now() - t]);
        healthStatus.add(res?.status ?? 0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const hostile = {
      name: 'hostile-q',
      version: '1.0.0',
      paramSchema: { type: 'object', additionalProperties: false, properties: { v: { type: 'string', pattern: '^(a+)+$' } } },
      input: 'segments',
      minReplicas: 0,
      maxReplicas: 1,
    };
    const [starts, big, schema] = await Promise.all([
      floodStarts(`${base}/api/streams`, 1000, FLOOD_CLIENTS),
      postJson('/api/streams', JSON.stringify({ id: 'big-q', attributes: { x: 'y'.repeat(2 * 1024 * 1024) } })),
      postJson('/api/services', hostile),
    ]);
    const floodMs = Date.now() - t0;
    flooding = false;
    await probe;
    loop.disable();

    const sorted = [...healthMs].sort((a, b) => a - b);
    console.log(
      `quotas: 1000 starts in ${floodMs} ms -> ${JSON.stringify(starts.counts)}; 2 MB body ${big.status}; hostile schema ${schema.status}; ` +
        `/health ${healthMs.length} probes (statuses ${[...healthStatus].join(',')}), median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms; event loop delay max ${Math.round(loop.max / 1e6)} ms; slowest (started at +ms, took ms): ${JSON.stringify(slowest.sort((a, b) => b[1] - a[1]).slice(0, 3))}`,
    );
    // Exactly the limit got in, concurrent or not: the admission cannot overshoot.
    expect(starts.counts).toEqual({ '201': MAX_LIVE, '429 live-streams': 1000 - MAX_LIVE });
    expect(starts.samples['429 live-streams']).toMatchObject({
      statusCode: 429,
      error: 'Too Many Requests',
      code: 'LM_QUOTA',
      limit: 'live-streams',
      current: MAX_LIVE,
      max: MAX_LIVE,
      message: expect.stringMatching(/MAX_LIVE_STREAMS=20/),
    });
    expect((await liveIds()).length).toBe(MAX_LIVE);
    expect(big).toMatchObject({ status: 413, body: { code: 'LM_BODY_TOO_LARGE' } });
    expect(schema).toMatchObject({ status: 422, body: { code: 'LM_UNSAFE_SCHEMA' } });
    expect([...healthStatus]).toEqual([200]);
    expect(sorted.at(-1)).toBeLessThan(1000);

    // A platform's start over the limit is answered with a failed event carrying the same figures.
    await bus.publish(subjects.platformStarted, JSON.stringify({ id: 'plat-over' }));
    const failed = await waitFor('a failed event for plat-over', 5000, () => events.find((e) => e.streamId === 'plat-over' && e.kind === 'failed'));
    expect(failed.data).toMatchObject({ code: 'LM_QUOTA', limit: 'live-streams', current: MAX_LIVE, max: MAX_LIVE, final: true });

    // Stopping one frees its slot.
    expect((await authFetch(`${base}/api/streams/flood-0`, { method: 'DELETE' })).status).toBe(200);
    expect((await post('/api/streams', { id: 'after-flood' })).status).toBe(201);
  }, 40_000);

  it('caps pulls and renditions per stream, on a start and on a chain change', async () => {
    const pull = (id: string) => post('/api/streams', { id, source: { url: `rtmp://127.0.0.1:1/live/${id}` } });
    expect((await pull('pull-1')).status).toBe(201);
    expect((await pull('pull-2')).status).toBe(201);
    const third = await pull('pull-3');
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({ code: 'LM_QUOTA', limit: 'pulls', current: 2, max: 2 });
    // A published stream still fits: only pulls are at their limit.
    expect((await post('/api/streams', { id: 'pub-1' })).status).toBe(201);

    const ladder = await post('/api/streams', { id: 'ladder-3', stages: [{ service: 'transcode', params: { renditions: LADDER3 } }] });
    const body = await ladder.json();
    console.log(`quotas: a 3-rendition ladder answered ${ladder.status} ${JSON.stringify(body)}`);
    expect(ladder.status).toBe(429);
    expect(body).toMatchObject({ code: 'LM_QUOTA', limit: 'renditions', current: 3, max: 2 });
    expect((await authFetch(`${base}/api/streams/ladder-3`)).status).toBe(404);
    const change = await authFetch(`${base}/api/streams/pub-1/chain`, { method: 'PATCH', headers: JSON_HEADERS, body: JSON.stringify({ stages: [{ service: 'transcode', params: { renditions: LADDER3 } }] }) });
    expect(change.status).toBe(429);
    expect(await change.json()).toMatchObject({ limit: 'renditions' });
  }, 30_000);

  it('purges what a stopped stream left queued in LM_SEG, and nothing of another stream', async () => {
    const view = (await (await post('/api/streams', { id: 'purge-1', stages: [{ service: 'passthrough' }] })).json()) as { chain: { hops: { subject: string }[] } };
    const hop0 = view.chain.hops[0]!.subject;
    // Queued at its hop with no worker to take them, as behind a busy service; and another stream's.
    for (let i = 0; i < 5; i++) await bus.publish(hop0, new Uint8Array(16));
    for (let i = 0; i < 3; i++) await bus.publish(subjects.segment('passthrough', 'purge-other', 0), new Uint8Array(16));
    expect(await queued(subjects.streamSegments('purge-1'))).toBe(5);

    const res = await authFetch(`${base}/api/streams/purge-1`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    const ended = await waitFor('purge-1 ended', 5000, () => events.find((e) => e.streamId === 'purge-1' && e.kind === 'ended'));
    const left = await queued(subjects.streamSegments('purge-1'));
    console.log(`quotas: stop purged ${JSON.stringify(ended.data)}; left for purge-1: ${left}; another stream's kept: ${await queued(subjects.streamSegments('purge-other'))}`);
    expect(ended.data).toMatchObject({ reason: 'stopped', purgedSegments: 5 });
    expect(left).toBe(0);
    expect(await queued(subjects.streamSegments('purge-other'))).toBe(3);
  }, 30_000);

  it('deletes an ended stream record with its chain, key and status entries after STREAM_RECORD_TTL_S', async () => {
    const view = (await (await post('/api/streams', { id: 'expire-1' })).json()) as { publish: { key: string } };
    const key = hashStreamKey(view.publish.key);
    const keys = new JsonStore<{ streamId: string }>(bus, BUCKETS.keys);
    const status = new JsonStore<unknown>(bus, BUCKETS.status);
    // What delivery would have reported about it.
    await status.put(statusKey('expire-1', 'delivery'), { streamId: 'expire-1', updatedAt: new Date().toISOString() });
    expect((await keys.get(key))?.value).toEqual({ streamId: 'expire-1' });
    // A chain left behind, as a start that failed half-way can leave one.
    expect((await authFetch(`${base}/api/streams/expire-1`, { method: 'DELETE' })).status).toBe(200);
    const chains = new JsonStore<unknown>(bus, BUCKETS.chains);
    await chains.put('expire-1', { leftover: true });
    const endedAt = Date.now();
    expect((await authFetch(`${base}/api/streams/expire-1`)).status).toBe(200);

    await waitFor('the expire-1 record to expire', 10_000, async () => (await authFetch(`${base}/api/streams/expire-1`)).status === 404);
    const expiredMs = Date.now() - endedAt;
    console.log(`quotas: ended record gone ${expiredMs} ms after the stop (STREAM_RECORD_TTL_S=2)`);
    expect(expiredMs).toBeGreaterThanOrEqual(1500);
    expect(await new JsonStore<unknown>(bus, BUCKETS.streams).get('expire-1')).toBeUndefined();
    expect(await chains.get('expire-1')).toBeUndefined();
    expect(await keys.get(key)).toBeUndefined();
    expect(await status.get(statusKey('expire-1', 'delivery'))).toBeUndefined();
    // The id can start again from nothing.
    expect((await post('/api/streams', { id: 'expire-1' })).status).toBe(201);
  }, 30_000);
});

describe('SRT listener quota (real NATS)', () => {
  let orchestrator: InProcessOrchestrator | undefined;

  beforeAll(async () => {
    // Two ports: the orchestrator counts no more listeners than ingest could open, below MAX_SRT_LISTENERS.
    orchestrator = await startInProcessOrchestrator('orchestrator-srt-quota-e2e', { SRT_PORT_RANGE: '20000-20001', MAX_SRT_LISTENERS: '5', STREAM_IDLE_TIMEOUT_S: '0' });
  });

  afterAll(async () => {
    await orchestrator?.close();
  });

  it('refuses a published stream once every SRT listener is taken; a pulled one still fits', async () => {
    const start = (body: unknown) => authFetch(`${orchestrator!.base}/api/streams`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });
    expect((await start({ id: 'srt-1' })).status).toBe(201);
    expect((await start({ id: 'srt-2' })).status).toBe(201);
    const third = await start({ id: 'srt-3' });
    const body = await third.json();
    console.log(`quotas: a third published stream with two SRT ports answered ${third.status} ${JSON.stringify(body)}`);
    expect(third.status).toBe(429);
    expect(body).toMatchObject({ code: 'LM_QUOTA', limit: 'srt-listeners', current: 2, max: 2 });
    expect((await start({ id: 'srt-pull', source: { url: 'rtmp://127.0.0.1:1/live/x' } })).status).toBe(201);
  });
});
