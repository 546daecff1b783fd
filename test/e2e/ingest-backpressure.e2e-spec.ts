// Ingest's bounded queue to the bus, end to end (real nats-server, ffmpeg publishers over RTMP,
// ingest, the harness's passthrough hop, delivery). Two streams publish live; nats-server is
// stopped long enough for ingest's queue (BOUND segments here) to overflow, then started again on the
// same store. Each stream must get one `segments-dropped` event naming the seqs ingest dropped, the
// seqs that went through lm.seg must continue after the restart with exactly that hole, the queue
// must never have grown past its bound. (Delivery marks such a hole after its gap wait; that is
// delivery's own test, and its consumer's recovery from a nats-server restart is not asserted here.)
// Then LM_SEG gets a per-stream limit (max_msgs_per_subject, discard new per subject) and one
// stream's first hop has no consumer: its refused segments are dropped one by one with an event,
// while another stream publishing at the same time loses nothing.
import { join } from 'node:path';
import { decodeSegmentHeaders, ensureTopology, topologyFromEnv, type StoredMsg } from '@livemesh/bus';
import { BUCKETS, STREAMS, loadEnv, subjects, type SegmentsDroppedData, type StreamEvent } from '@livemesh/contracts';
import { generateClip, publishRtmp } from '../support/media.js';
import { waitFor } from '../support/wait.js';
import { STAGE, startHarness, type Harness } from './ingest-delivery.harness.js';

const A = 'bpa';
const B = 'bpb';
/** A stream whose first hop nobody consumes (its LM_SEG subject fills), and one beside it. */
const HELD = 'bpc';
const FREE = 'bpd';
const HELD_SERVICE = 'held';
/** LM_SEG's per-subject limit in the second case. */
const PER_STREAM = 4;
/** INGEST_QUEUE_SEGMENTS of this test: small, so a few seconds of outage overflow it. */
const BOUND = 8;
/** Drops (both streams together) to see before nats-server comes back: each stream well past its bound. */
const DROPS_BEFORE_RESTART = 6;

/** Every `name{labels} value` line of a Prometheus text page. */
function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`metric ${name} not on /metrics`);
  return Number(m[1]);
}

describe('ingest: bounded queue to the bus during a NATS outage', () => {
  let h: Harness;
  let metricsUrl: string;
  let clip: string;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    h = await startHarness({ SEGMENT_SECONDS: '1', INGEST_QUEUE_SEGMENTS: String(BOUND) });
    metricsUrl = `${(await h.ingest.getUrl()).replace('[::1]', '127.0.0.1')}/metrics`;
    clip = await generateClip({ seconds: 22, width: 320, height: 240, fps: 25, keyframeSeconds: 1, out: join(h.dir, 'clip.flv') });
    for (const id of [A, B, HELD, FREE]) keys[id] = (await h.addStream(id)).key;
    // HELD's first hop is a service nobody runs: what ingest publishes there stays in LM_SEG.
    const now = new Date().toISOString();
    await h.bus.store(BUCKETS.chains).put(HELD, {
      streamId: HELD,
      version: 2,
      hops: [{ index: 0, service: HELD_SERVICE, params: {}, subject: subjects.segment(HELD_SERVICE, HELD, 0), next: null }],
      updatedAt: now,
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  const metrics = async () => (await fetch(metricsUrl)).text();
  const streamLog = (id: string) => h.logs.lines.filter((l) => l.text.includes(`stream ${id}`) && !l.text.includes('ffmpeg -')).map((l) => l.text).join('\n');

  /**
   * The messages stored on `subject` of JetStream stream `stream`, in stored order, read one by one
   * by stream sequence (LM_SEG is a work queue, which takes no ordered consumer).
   */
  async function stored(stream: string, subject: string): Promise<StoredMsg[]> {
    const { firstSeq, lastSeq } = await h.bus.streamInfo(stream);
    const found: StoredMsg[] = [];
    for (let seq = firstSeq; seq <= lastSeq; seq++) {
      // Undefined when the work queue's consumer already took it.
      const m = await h.bus.getMessage(stream, { seq });
      if (m?.subject === subject) found.push(m);
    }
    return found;
  }

  const storedSeqs = async (stream: string, subject: string) => (await stored(stream, subject)).map((m) => decodeSegmentHeaders(m.headers).seq);

  /** Every `segments-dropped` event of a stream, with its LM_EVT sequence. */
  const dropEvents = async (id: string) =>
    (await stored(STREAMS.events, subjects.streamEvent(id, 'segments-dropped'))).map((m) => ({ at: m.seq, data: m.json<StreamEvent>().data as unknown as SegmentsDroppedData }));

  /** The seqs of a stream that went through hop 0 (lm.seg), as the passthrough hop copied them onto lm.out. */
  const outputSeqs = (id: string) => storedSeqs(STREAMS.output, subjects.output(id, 'main'));

  /**
   * Every seq ingest got onto lm.seg: copied to lm.out by the passthrough hop, or still in LM_SEG (a
   * segment the hop had taken when NATS stopped comes back only after the hop's ack wait).
   */
  async function hopSeqs(id: string): Promise<{ seqs: number[]; pending: number[] }> {
    const pending = await storedSeqs(STREAMS.segments, subjects.segment(STAGE, id, 0));
    const seqs = [...new Set([...(await outputSeqs(id)), ...pending])].sort((a, b) => a - b);
    return { seqs, pending };
  }

  it('drops the oldest beyond the bound, reports the hole once per stream, and both streams go on past it', async () => {
    const before: Record<string, number> = { [A]: await h.lastEventSeq(A, 'publish-ended'), [B]: await h.lastEventSeq(B, 'publish-ended') };
    const publishers = [A, B].map((id) => publishRtmp(clip, `rtmp://127.0.0.1:${h.rtmpPort}/live/${keys[id]}`, { realtime: true, timeoutMs: 60_000 }));

    // Both streams are live on the bus before the outage.
    await waitFor('3 segments of each stream on lm.out', 15_000, async () => (await outputSeqs(A)).length >= 3 && (await outputSeqs(B)).length >= 3, { retryErrors: true });

    // Read before the outage: a request to a stopped server only times out.
    const events: Record<string, number> = { [A]: await h.lastEventSeq(A, 'segments-dropped'), [B]: await h.lastEventSeq(B, 'segments-dropped') };
    const queueFull = 'livemesh_ingest_segments_dropped_total{reason="ingest-queue-full"}';
    const droppedBefore = metricValue(await metrics(), queueFull);
    const downAt = Date.now();
    await h.nats.down();
    let maxQueue = 0;
    let maxBytes = 0;
    const dropsSeen = await waitFor(`${DROPS_BEFORE_RESTART} segments dropped by ingest's queue`, 20_000, async () => {
      const text = await metrics();
      maxQueue = Math.max(maxQueue, metricValue(text, 'livemesh_ingest_queue_segments'));
      maxBytes = Math.max(maxBytes, metricValue(text, 'livemesh_ingest_queue_bytes'));
      const dropped = metricValue(text, queueFull) - droppedBefore;
      return dropped >= DROPS_BEFORE_RESTART ? dropped : undefined;
    }, { intervalMs: 200 });
    await h.nats.up();
    const upAt = Date.now();

    for (const id of [A, B]) {
      const { event } = await h.eventAfter(id, 'segments-dropped', events[id] ?? 0, 15_000);
      expect(event.seq).toBe((event.data as unknown as SegmentsDroppedData).from);
    }

    for (const r of await Promise.all(publishers)) expect(r).toEqual({ code: 0, stderr: '' });
    const ended: Record<string, number> = {};
    for (const id of [A, B]) ended[id] = (await h.eventAfter(id, 'publish-ended', before[id] ?? 0, 20_000)).event.data?.segments as number;

    const text = await metrics();
    const figures: Record<string, unknown> = {
      outageMs: upAt - downAt,
      droppedWhileDown: dropsSeen,
      droppedTotal: metricValue(text, queueFull),
      queueBound: BOUND,
      maxQueueSeenBothStreams: maxQueue,
      maxQueueBytesSeenBothStreams: maxBytes,
      peakQueueOneStream: metricValue(text, 'livemesh_ingest_queue_peak_segments'),
      peakQueueBytesOneStream: metricValue(text, 'livemesh_ingest_queue_peak_bytes'),
      queueAfter: metricValue(text, 'livemesh_ingest_queue_segments'),
      residentMemoryMB: Math.round(metricValue(text, 'livemesh_ingest_process_resident_memory_bytes') / 1e6),
    };

    let dropsInEvents = 0;
    for (const id of [A, B]) {
      const all = await dropEvents(id);
      // The outage is one run of drops, so one event once the bus is back.
      const outage = all.filter((e) => e.at > (events[id] ?? 0));
      expect(outage).toHaveLength(1);
      const d = outage[0]!.data;
      expect(d.reason).toBe('ingest-queue-full');
      // A run may enclose a seq that was not dropped: the one being sent when the connection went,
      // which is retried after it (count < to - from + 1 then, as SegmentsDroppedData says).
      expect(d.count).toBeGreaterThan(0);
      expect(d.count).toBeLessThanOrEqual(d.to - d.from + 1);
      // A drop outside the outage (a start-up burst past a bound this small) must be reported the same way.
      const inRun = (s: number) => all.some((e) => s >= e.data.from && s <= e.data.to);
      const { seqs, pending } = await hopSeqs(id);
      const last = Math.max(...seqs);
      const outside = Array.from({ length: last + 1 }, (_, i) => i).filter((s) => !inRun(s));
      figures[id] = { outageDropped: d, otherDrops: all.length - 1, published: ended[id], firstSeqAfterHole: seqs.find((s) => s > d.to), lastSeq: last, stillInLmSeg: pending };
      // Exactly the holes the events name: every seq outside a run once, in order; inside each run,
      // exactly count seqs missing; and the numbering goes on past them.
      const off = JSON.stringify(seqs.filter((s) => !inRun(s))) !== JSON.stringify(outside) || new Set(seqs).size !== seqs.length;
      if (off) console.log(`seqs of ${id} are off; its log:\n${streamLog(id)}`);
      expect(seqs.filter((s) => !inRun(s))).toEqual(outside);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      for (const e of all) {
        const present = seqs.filter((s) => s >= e.data.from && s <= e.data.to).length;
        expect({ run: e.data, missing: e.data.to - e.data.from + 1 - present }).toEqual({ run: e.data, missing: e.data.count });
      }
      expect(seqs.filter((s) => s > d.to).length).toBeGreaterThanOrEqual(BOUND);
      expect(ended[id]).toBe(seqs.length);
      dropsInEvents += all.reduce((n, e) => n + e.data.count, 0);
    }
    console.log(`ingest backpressure figures: ${JSON.stringify(figures, null, 2)}`);

    // One event per run: the metric's drops are the events' drops, nothing more.
    expect(dropsInEvents).toBe(figures.droppedTotal);
    expect(figures.peakQueueOneStream).toBeLessThanOrEqual(BOUND);
    expect(maxQueue).toBeLessThanOrEqual(2 * BOUND);
    expect(figures.queueAfter).toBe(0);
  });

  it("drops a segment LM_SEG refuses for the stream's limit with one event per run, and the next goes on; another stream loses nothing", async () => {
    // The same topology every process ensures, with LM_SEG's per-stream cap lowered to PER_STREAM.
    await ensureTopology(h.bus, { ...topologyFromEnv(loadEnv({})), segmentsPerStream: PER_STREAM });
    const before: Record<string, number> = {};
    for (const id of [HELD, FREE]) before[id] = await h.lastEventSeq(id, 'publish-ended');
    const dropsBefore = await h.lastEventSeq(HELD, 'segments-dropped');
    const short = await generateClip({ seconds: 8, width: 320, height: 240, fps: 25, keyframeSeconds: 1, out: join(h.dir, 'short.flv') });
    const started = Date.now();
    const results = await Promise.all([HELD, FREE].map((id) => publishRtmp(short, `rtmp://127.0.0.1:${h.rtmpPort}/live/${keys[id]}`, { realtime: true, timeoutMs: 30_000 })));
    for (const r of results) expect(r).toEqual({ code: 0, stderr: '' });
    const held = (await h.eventAfter(HELD, 'publish-ended', before[HELD] ?? 0, 15_000)).event;
    const free = (await h.eventAfter(FREE, 'publish-ended', before[FREE] ?? 0, 15_000)).event;
    const settledMs = Date.now() - started;
    const { event } = await h.eventAfter(HELD, 'segments-dropped', dropsBefore, 5000);
    const d = event.data as unknown as SegmentsDroppedData;

    const stored = await storedSeqs(STREAMS.segments, subjects.segment(HELD_SERVICE, HELD, 0));
    const freeSeqs = await outputSeqs(FREE);
    const figures = { perStreamLimit: PER_STREAM, heldStored: stored, heldDropped: d, heldPublished: held.data?.segments, freeSeqs, settledMs };
    console.log(`LM_SEG per-stream limit figures: ${JSON.stringify(figures)}`);

    if (stored.length !== PER_STREAM) console.log(`LM_SEG of ${HELD} is off; its log:\n${streamLog(HELD)}`);
    // The held stream: exactly its limit stored, every later seq refused, dropped and reported in one event.
    expect(stored).toEqual(Array.from({ length: PER_STREAM }, (_, i) => i));
    expect(d).toMatchObject({ reason: 'queue-full', from: PER_STREAM });
    expect(d.count).toBe(d.to - d.from + 1);
    expect(d.count).toBeGreaterThanOrEqual(3);
    expect(held.data?.segments).toBe(PER_STREAM);
    if (JSON.stringify(freeSeqs) !== JSON.stringify(Array.from({ length: freeSeqs.length }, (_, i) => i))) console.log(`seqs of ${FREE} are off; its log:\n${streamLog(FREE)}`);
    // The other stream, same time, same LM_SEG: every seq, in order.
    expect(freeSeqs).toEqual(Array.from({ length: freeSeqs.length }, (_, i) => i));
    expect(free.data?.segments).toBe(freeSeqs.length);
    expect(freeSeqs.length).toBe(d.to + 1);
  });
});
