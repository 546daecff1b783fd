// The sink's queue discipline against a stand-in for its own SegmentOutlet interface (the bus side
// is covered end to end by test/e2e/ingest-backpressure.e2e-spec.ts against a real nats-server).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@nestjs/common';
import type { Segment, StreamEvent } from '@livemesh/contracts';
import { initialCursor, type RunTimeline } from './ingest.cursor.js';
import { IngestMetrics } from './ingest.metrics.js';
import { SegmentSink, isSubjectFull, isTransient, type SegmentOutlet } from './segment.sink.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Logger;
const RUN: RunTimeline = { offset: 0, sourceStart: 0, continued: true };

class FakeOutlet implements SegmentOutlet {
  up = true;
  seqs: number[] = [];
  events: Omit<StreamEvent, 'at'>[] = [];
  refuse = new Set<number>();
  publish(_subject: string, segment: Segment): Promise<{ duplicate: boolean }> {
    if (!this.up) return new Promise(() => undefined); // a request into a dead connection: never answered
    if (this.refuse.has(segment.meta.seq)) return Promise.reject(new Error('nats: maximum messages per subject exceeded'));
    this.seqs.push(segment.meta.seq);
    return Promise.resolve({ duplicate: false });
  }
  event(event: Omit<StreamEvent, 'at'>): Promise<void> {
    if (!this.up) return Promise.reject(new Error('TIMEOUT'));
    this.events.push(event);
    return Promise.resolve();
  }
  connected(): boolean {
    return this.up;
  }
}

describe('SegmentSink', () => {
  let dir: string;
  let outlet: FakeOutlet;
  let metrics: IngestMetrics;
  let sink: SegmentSink;
  let n = 0;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sink-spec-'));
    outlet = new FakeOutlet();
    metrics = new IngestMetrics();
    sink = new SegmentSink('s1', {
      outlet,
      chains: { firstHop: () => Promise.resolve({ subject: 'lm.seg.passthrough.s1.0', chainVersion: 1 }) },
      directory: { loadCursor: () => Promise.resolve(initialCursor('s1')), saveCursor: () => Promise.resolve() },
      metrics,
      logger: quiet,
      limits: { maxSegments: 3, maxBytes: 1_000_000 },
    });
    sink.beginSession('rtmp');
    n = 0;
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function cut(count: number): Promise<void> {
    for (let i = 0; i < count; i++, n++) {
      const file = join(dir, `seg_${n}.ts`);
      await writeFile(file, Buffer.alloc(1000, n));
      sink.push(file, { file: `seg_${n}.ts`, start: n * 2, end: n * 2 + 2 }, RUN);
    }
    await sink.admitted();
  }

  const metric = async (name: string) => {
    const text = await metrics.registry.metrics();
    return Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
  };

  it('while the bus is away keeps the newest segments, drops the oldest, and reports the hole once it is back', async () => {
    await cut(2);
    await sink.idle();
    outlet.up = false;
    await cut(7); // seqs 2-8: 2-5 dropped, 6-8 kept
    expect(sink.queuedSegments).toBe(3);
    expect(await metric('livemesh_ingest_queue_segments')).toBe(3);
    expect(await metric('livemesh_ingest_queue_peak_segments')).toBe(3);
    expect(outlet.events.filter((e) => e.kind === 'segments-dropped')).toEqual([]);
    outlet.up = true;
    const done = await sink.finishSession();
    expect(outlet.seqs).toEqual([0, 1, 6, 7, 8]);
    const drops = outlet.events.filter((e) => e.kind === 'segments-dropped');
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ streamId: 's1', seq: 2, data: { reason: 'ingest-queue-full', from: 2, to: 5, count: 4 } });
    expect(done).toEqual({ source: 'rtmp', published: 5, cut: 9 });
    expect(await metric('livemesh_ingest_segments_dropped_total{reason="ingest-queue-full"}')).toBe(4);
    expect(await metric('livemesh_ingest_queue_segments')).toBe(0);
  });

  it('drops a segment the bus refuses for its per-stream limit, goes on with the next, and reports each run once', async () => {
    outlet.refuse = new Set([1, 2, 4]);
    await cut(6);
    await sink.finishSession();
    expect(outlet.seqs).toEqual([0, 3, 5]);
    expect(outlet.events.filter((e) => e.kind === 'segments-dropped').map((e) => e.data)).toEqual([
      { reason: 'queue-full', from: 1, to: 2, count: 2 },
      { reason: 'queue-full', from: 4, to: 4, count: 1 },
    ]);
    expect(await metric('livemesh_ingest_segments_dropped_total{reason="queue-full"}')).toBe(3);
  });

  it("ends a session with 'publish-ended' once its segments are out, counting only its own", async () => {
    outlet.up = false;
    await cut(2);
    const ended = sink.endSession();
    sink.beginSession('srt'); // the next session may begin at once; its segment is not the ended one's
    await cut(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(outlet.events.filter((e) => e.kind === 'publish-ended')).toEqual([]);
    outlet.up = true;
    await ended;
    // Sent once both of its segments went out, after its own 'publishing'.
    expect(outlet.seqs.slice(0, 2)).toEqual([0, 1]);
    const kinds = outlet.events.map((e) => e.kind);
    expect(kinds.indexOf('publishing')).toBeLessThan(kinds.indexOf('publish-ended'));
    const ends = outlet.events.filter((e) => e.kind === 'publish-ended');
    expect(ends).toEqual([expect.objectContaining({ streamId: 's1', data: { source: 'rtmp', segments: 2 } })]);
  });

  it("does not reject when 'publish-ended' cannot be sent", async () => {
    await cut(1);
    await sink.idle();
    outlet.event = () => Promise.reject(new Error('TIMEOUT'));
    await expect(sink.endSession()).resolves.toBeUndefined();
  });

  it('on shutdown with the bus away gives the queue up instead of waiting for it', async () => {
    outlet.up = false;
    await cut(3);
    sink.close();
    await sink.idle();
    expect(sink.queuedSegments).toBe(0);
    expect(await metric('livemesh_ingest_segments_dropped_total{reason="shutdown"}')).toBe(3);
  });
});

describe('isSubjectFull', () => {
  it("recognises JetStream's per-subject refusal and libs/bus's BusError reason, also as a cause", () => {
    expect(isSubjectFull(new Error('maximum messages per subject exceeded'))).toBe(true);
    expect(isSubjectFull(Object.assign(new Error('refused'), { reason: 'subject-full' }))).toBe(true);
    expect(isSubjectFull(new Error('publish failed', { cause: new Error('nats: maximum messages per subject exceeded') }))).toBe(true);
    expect(isSubjectFull(new Error('maximum messages exceeded'))).toBe(false);
    expect(isSubjectFull(Object.assign(new Error('refused'), { reason: 'stream-full' }))).toBe(false);
    expect(isSubjectFull('maximum messages per subject exceeded')).toBe(false);
  });
});

describe('isTransient', () => {
  it('waits for a bus that is away or still recovering, and gives up on a real refusal', () => {
    expect(isTransient(Object.assign(new Error('TIMEOUT'), { name: 'TimeoutError' }))).toBe(true);
    expect(isTransient(new Error('jetstream is not enabled'))).toBe(true);
    expect(isTransient(Object.assign(new Error('refused'), { reason: 'timeout' }))).toBe(true);
    expect(isTransient(new Error('maximum payload exceeded'))).toBe(false);
    expect(isTransient(new Error('maximum messages per subject exceeded'))).toBe(false);
  });
});
