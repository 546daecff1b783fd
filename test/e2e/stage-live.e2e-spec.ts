// Live means live (issue 13, item 3), on a real nats-server, a real watermark worker process
// (ffmpeg's libraries in its media engine) and the delivery app: (a) a backlog of 200 stale
// segments of a stream whose publisher is gone does not delay a new stream's first segment; they
// are dropped unworked, with events and gap markers. (b) More segments than the worker can process
// in real time, across several streams: every stream's output stays within its latency budget,
// what could not make it is a segments-dropped event and a gap delivery marks at once, and nothing
// queues up without bound. Each prints its figures.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import {
  BUCKETS,
  SEGMENT_HEADERS,
  STREAMS,
  consumers,
  latencyBudgetMs,
  loadEnv,
  subjects,
  type ChainSpec,
  type SegmentMeta,
  type SegmentsDroppedData,
  type StreamEvent,
} from '@livemesh/contracts';
import { Bus, JsonStore, encodeSegmentHeaders, ensureServiceConsumer, ensureTopology, publishSegment } from '@livemesh/bus';
import { createDeliveryApp } from '../../apps/delivery/src/delivery.app.js';
import { freePort } from '../support/free-port.js';
import { CapturingLogger } from '../support/logger.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { spawnApp, type AppProcess } from '../support/processes.js';
import { cutTestSegments, type CutSegment } from '../support/segments.js';
import { waitFor } from '../support/wait.js';

const SERVICE = 'watermark';
const STALE = 200;
/** Segments per stream in the overload run: 20 s of live video each. */
const LIVE_SEGMENTS = 10;
const SEGMENT_MS = 2000;

interface Output {
  streamId: string;
  seq: number;
  gap: boolean;
  /** When the test read it back from LM_OUT, minus the segment's ingest time, ms. */
  latencyMs: number;
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

describe('live means live: latency budget and fair scheduling at a stage', () => {
  let nats: NatsServer;
  let bus: Bus;
  let dir: string;
  let small: CutSegment[];
  let big: CutSegment[];
  let chains: JsonStore<ChainSpec>;
  let delivery: INestApplication;
  let deliveryUrl: string;
  let worker: AppProcess | undefined;
  let workerMetricsUrl: string;
  const logs = new CapturingLogger();
  const outputs: Output[] = [];
  const events: StreamEvent[] = [];
  let stopReading: (() => void) | undefined;

  const chainFor = (streamId: string) =>
    chains.put(streamId, {
      streamId, version: 1, updatedAt: new Date().toISOString(),
      hops: [{ index: 0, service: SERVICE, params: { text: 'live' }, subject: subjects.segment(SERVICE, streamId, 0), next: null }],
    });
  const send = (streamId: string, seq: number, s: CutSegment, ingestTime = Date.now()) => {
    const meta: SegmentMeta = { streamId, seq, hop: 0, rendition: 'main', pts: seq * 2, duration: s.end - s.start, ingestTime, epoch: 0, chainVersion: 1 };
    return publishSegment(bus, subjects.segment(SERVICE, streamId, 0), { meta, data: s.data }, { inlineLimit: 8 << 20 });
  };
  const metric = async (url: string, name: string, labels = ''): Promise<number> => {
    const text = await (await fetch(url)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (labels === '' && l.startsWith(`${name}{`)));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  const dropsOf = (streamId: string) =>
    events.filter((e) => e.streamId === streamId && e.kind === 'segments-dropped').map((e) => e.data as unknown as SegmentsDroppedData);
  const outputsOf = (streamId: string) => outputs.filter((o) => o.streamId === streamId);
  /** The service's one worker (concurrency 1), started once the test has queued what it should find. */
  const startWorker = async (): Promise<void> => {
    if (worker) return;
    const metricsPort = await freePort();
    workerMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    worker = spawnApp('worker', { NATS_URL: nats.url, LIVEMESH_SERVICE: SERVICE, STAGE_METRICS_PORT: String(metricsPort), LOG_LEVEL: process.env.LIVE_LOG ?? 'log' });
    await worker.waitForLine(/consuming lm\.seg\.watermark/, 30_000);
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    bus = await Bus.connect({ url: nats.url, name: 'stage-live-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: 600 });
    // The orchestrator's part (the worker only binds to its service's consumer), with a worker's default settings.
    const defaults = loadEnv({});
    await ensureServiceConsumer(bus, SERVICE, { ackWaitMs: defaults.STAGE_ACK_WAIT_MS, maxDeliver: defaults.STAGE_MAX_ATTEMPTS });
    chains = bus.store(BUCKETS.chains);
    dir = await mkdtemp(join(tmpdir(), 'livemesh-live-'));
    await mkdir(join(dir, 'small'));
    await mkdir(join(dir, 'big'));
    small = await cutTestSegments(join(dir, 'small'), 4, 60_000);
    big = await cutTestSegments(join(dir, 'big'), 6, 60_000, { width: 1280, height: 720 });

    // What LM_OUT stores (a duplicate gap marker or output is not stored, so not seen here).
    const reader = await bus.orderedConsumer(STREAMS.output, { filter: subjects.allOutput, startAt: 'new' });
    const messages = await reader.consume();
    stopReading = () => void messages.close();
    void (async () => {
      for await (const m of messages) {
        const h = m.headers!;
        outputs.push({
          streamId: h.get(SEGMENT_HEADERS.streamId),
          seq: Number(h.get(SEGMENT_HEADERS.seq)),
          gap: h.has(SEGMENT_HEADERS.gap),
          latencyMs: Date.now() - Number(h.get(SEGMENT_HEADERS.ingestTime)),
        });
      }
    })();
    const evt = bus.subscribe(subjects.streamEvents());
    void (async () => {
      for await (const m of evt) events.push(m.json<StreamEvent>());
    })();

    const port = await freePort();
    const env = loadEnv({ NATS_URL: nats.url, DELIVERY_PORT: String(port), HLS_WINDOW: '6', LOG_LEVEL: 'warn' });
    delivery = await createDeliveryApp(env, { logger: ['error', 'warn'] });
    delivery.useLogger(logs);
    await delivery.listen(port, '127.0.0.1');
    deliveryUrl = `http://127.0.0.1:${port}`;
    await bus.flush();
  }, 120_000);

  afterAll(async () => {
    stopReading?.();
    await worker?.stop(10_000);
    await delivery?.close();
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("(a) a new stream's first segment is out within its budget behind 200 stale segments, which are dropped unworked", async () => {
    await chainFor('old');
    await chainFor('fresh');
    // An ended publisher's backlog, cut 400 s to 2 s before the publisher went away ten minutes ago.
    const cutAt = Date.now() - 600_000;
    for (let seq = 0; seq < STALE; seq++) await send('old', seq, small[seq % small.length]!, cutAt + seq * SEGMENT_MS);
    await startWorker();

    const ingestTime = Date.now();
    await send('fresh', 0, small[0]!, ingestTime);
    const first = await waitFor('the fresh stream\'s first output', 20_000, () => outputsOf('fresh').find((o) => !o.gap), { detail: () => worker!.tail(Number(process.env.LIVE_TAIL ?? 20)) });
    const budget = latencyBudgetMs(undefined, small[0]!.end - small[0]!.start);

    await waitFor('every stale segment reported dropped', 20_000, () => dropsOf('old').reduce((n, d) => n + d.count, 0) >= STALE, { detail: () => worker!.tail(20) });
    const drops = dropsOf('old');
    const markers = outputsOf('old');
    const info = await bus.consumerInfo(STREAMS.segments, consumers.service(SERVICE));
    const dropped = await metric(workerMetricsUrl, 'livemesh_stage_segments_dropped_total', `service="${SERVICE}",reason="late"`);
    const processed = await metric(workerMetricsUrl, 'livemesh_stage_segments_processed_total', `service="${SERVICE}"`);
    console.log(
      `(a) fresh stream's first output ${first.latencyMs} ms after its cut (budget ${budget} ms), behind ${STALE} stale segments; ` +
      `stale: ${drops.reduce((n, d) => n + d.count, 0)} dropped in ${drops.length} segments-dropped event(s), ${markers.length} gap markers, ` +
      `worker processed ${processed}, dropped ${dropped}; LM_SEG pending ${info.pending}, unacked ${info.ackPending}`,
    );
    expect(first.latencyMs).toBeLessThanOrEqual(budget);
    expect(drops.reduce((n, d) => n + d.count, 0)).toBe(STALE);
    expect(drops.every((d) => d.reason === 'late')).toBe(true);
    // Coalesced: one event per run, not one per segment.
    expect(drops.length).toBeLessThanOrEqual(10);
    expect(markers).toHaveLength(STALE);
    expect(markers.every((m) => m.gap)).toBe(true);
    expect(new Set(markers.map((m) => m.seq)).size).toBe(STALE);
    expect(dropped).toBe(STALE);
    expect(processed).toBe(1);
    expect(info.pending + info.ackPending).toBe(0);
  }, 90_000);

  it('(b) over capacity across several streams: each stays within its budget, drops are events and marked gaps, nothing grows', async () => {
    await startWorker();
    // How long one 720p segment takes this worker, to offer it about twice what it can do.
    // The fastest of three, one after the other: the first also pays for the engine's start.
    await chainFor('probe');
    for (let seq = 0; seq < 3; seq++) {
      await send('probe', seq, big[seq % big.length]!);
      await waitFor(`probe segment ${seq}`, 30_000, () => outputsOf('probe').some((o) => o.seq === seq));
    }
    const perSegment = Math.max(100, Math.min(...outputsOf('probe').map((o) => o.latencyMs)));
    const streams = Math.min(12, Math.max(2, Math.ceil((2 * SEGMENT_MS) / perSegment)));
    const ids = Array.from({ length: streams }, (_, i) => `live${i}`);
    for (const id of ids) await chainFor(id);
    const budget = latencyBudgetMs(undefined, big[0]!.end - big[0]!.start);

    let maxQueued = 0;
    let maxHeld = 0;
    const sampler = setInterval(() => {
      void bus.consumerInfo(STREAMS.segments, consumers.service(SERVICE)).then((i) => (maxQueued = Math.max(maxQueued, i.pending + i.ackPending)), () => undefined);
      void metric(workerMetricsUrl, 'livemesh_stage_held_segments').then((n) => (maxHeld = Math.max(maxHeld, n)), () => undefined);
    }, 250);
    const start = Date.now();
    try {
      for (let seq = 0; seq < LIVE_SEGMENTS; seq++) {
        const due = start + seq * SEGMENT_MS;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        for (const id of ids) await send(id, seq, big[seq % big.length]!);
      }
      await waitFor('every seq of every stream out or marked as a gap', 20_000, () => ids.every((id) => new Set(outputsOf(id).map((o) => o.seq)).size === LIVE_SEGMENTS), {
        detail: () => ids.map((id) => `${id}: ${outputsOf(id).map((o) => `${o.seq}${o.gap ? 'g' : ''}`).join(' ')}`).join('\n'),
      });
      // The drop events of the last runs come within a second.
      await waitFor('a drop event for every gap', 5_000, () =>
        ids.every((id) => dropsOf(id).reduce((n, d) => n + d.count, 0) === outputsOf(id).filter((o) => o.gap).length));
    } finally {
      clearInterval(sampler);
    }

    const rows = ids.map((id) => {
      const real = outputsOf(id).filter((o) => !o.gap);
      const gaps = outputsOf(id).filter((o) => o.gap);
      const lat = real.map((o) => o.latencyMs);
      return { id, out: real.length, dropped: gaps.length, events: dropsOf(id).length, p50: percentile(lat, 50), max: Math.max(...lat), gapSeqs: gaps.map((g) => g.seq) };
    });
    const totalDropped = rows.reduce((n, r) => n + r.dropped, 0);
    const skipped = await metric(`${deliveryUrl}/metrics`, 'livemesh_delivery_segments_skipped_total');
    const markedLines = logs.warnings.filter((w) => w.includes('dropped upstream (gap marker)')).length;
    const waitedLines = logs.warnings.filter((w) => /live\d.*never arrived/.test(w)).length;
    console.log(
      `(b) ${streams} streams x ${LIVE_SEGMENTS} segments of 720p at real time; one segment takes the worker ${perSegment} ms; budget ${budget} ms\n` +
      rows.map((r) => `  ${r.id}: ${r.out} out (latency p50 ${r.p50} ms, max ${r.max} ms), ${r.dropped} dropped in ${r.events} event(s) [${r.gapSeqs.join(',')}]`).join('\n') +
      `\n  delivery skipped ${skipped} seqs (${markedLines} skip(s) on a gap marker, ${waitedLines} after the gap wait); ` +
      `LM_SEG held at most ${maxQueued} segments for the service, the worker held at most ${maxHeld} beside its slot`,
    );

    // Over capacity indeed, and the budget held for what was delivered.
    expect(totalDropped).toBeGreaterThan(0);
    for (const r of rows) {
      expect({ id: r.id, max: r.max <= budget + perSegment }).toEqual({ id: r.id, max: true });
      // Fair: no stream starved while others got through.
      expect({ id: r.id, out: r.out > 0 }).toEqual({ id: r.id, out: true });
    }
    // Delivery marked every gap on its marker, not after waiting for it.
    expect(skipped).toBe(totalDropped);
    expect(markedLines).toBeGreaterThan(0);
    expect(waitedLines).toBe(0);
    for (const id of ids) {
      const text = await (await fetch(`${deliveryUrl}/hls/${id}/index.m3u8`)).text();
      const listed = text.split('\n').filter((l) => l.endsWith('.ts')).map((l) => Number(/(\d+)\.ts$/.exec(l)![1]));
      const gaps = new Set(outputsOf(id).filter((o) => o.gap).map((o) => o.seq));
      expect(listed.filter((s) => gaps.has(s))).toEqual([]);
      const expected = outputsOf(id).filter((o) => !o.gap).map((o) => o.seq).sort((a, b) => a - b).slice(-6);
      expect({ id, listed }).toEqual({ id, listed: expected });
    }
    // Bounded: what waits is what the budget lets through, never the whole offered load.
    // One held segment per other recent stream, never more than the runner's lookahead (16 by default).
    expect(maxHeld).toBeLessThanOrEqual(16);
    expect(maxQueued).toBeLessThanOrEqual(streams * (Math.ceil(budget / SEGMENT_MS) + 2));

    // A gap marker is bus input like any other: one with bytes, and one with an unknown reason, are refused.
    const forged = (extra: Record<string, string>, data: Uint8Array) => {
      const meta: SegmentMeta = { streamId: ids[0]!, seq: LIVE_SEGMENTS + 1, hop: 0, rendition: 'main', pts: 0, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1 };
      return bus.publish(subjects.output(meta.streamId, 'main'), data, { headers: encodeSegmentHeaders(meta, `forged-${Object.values(extra).join()}-${data.byteLength}`, extra) });
    };
    await forged({ [SEGMENT_HEADERS.gap]: 'late' }, new Uint8Array(188));
    await forged({ [SEGMENT_HEADERS.gap]: 'bogus' }, new Uint8Array(0));
    await waitFor('both forged markers refused', 5_000, async () =>
      (await metric(`${deliveryUrl}/metrics`, 'livemesh_delivery_segments_dropped_total', 'reason="malformed"')) === 2);
    expect(await metric(`${deliveryUrl}/metrics`, 'livemesh_delivery_segments_skipped_total')).toBe(totalDropped);
  }, 90_000);
});
