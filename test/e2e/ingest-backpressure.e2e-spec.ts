// Ingest's bounded queue to the bus, end to end (real nats-server, ffmpeg publishers over RTMP,
// ingest, the harness's passthrough hop, delivery). Two streams publish live; nats-server is
// stopped long enough for ingest's queue (3 segments here) to overflow, then started again on the
// same store. Each stream must get one `segments-dropped` event naming the seqs ingest dropped, the
// seqs that went through lm.seg must continue after the restart with exactly that hole, the queue
// must never have grown past its bound, and delivery must mark the hole.
import { join } from 'node:path';
import { decodeSegmentHeaders } from '@livemesh/bus';
import { STREAMS, subjects, type SegmentsDroppedData } from '@livemesh/contracts';
import { generateClip, publishRtmp } from '../support/media.js';
import { waitFor } from '../support/wait.js';
import { startHarness, type Harness } from './ingest-delivery.harness.js';

const A = 'bpa';
const B = 'bpb';
/** INGEST_QUEUE_SEGMENTS of this test: small, so a few seconds of outage overflow it. */
const BOUND = 3;
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
    clip = await generateClip({ seconds: 20, width: 320, height: 240, fps: 25, keyframeSeconds: 1, out: join(h.dir, 'clip.flv') });
    for (const id of [A, B]) keys[id] = (await h.addStream(id)).key;
  });

  afterAll(async () => {
    await h?.stop();
  });

  const metrics = async () => (await fetch(metricsUrl)).text();

  /** The seqs of a stream that went through hop 0 (lm.seg), as the passthrough hop copied them onto lm.out, in stored order. */
  async function outputSeqs(id: string): Promise<number[]> {
    const consumer = await h.bus.js.consumers.get(STREAMS.output, { filter_subjects: subjects.output(id, 'main') });
    const seqs: number[] = [];
    const batch = await consumer.fetch({ max_messages: 1000, expires: 2000 });
    for await (const m of batch) {
      seqs.push(decodeSegmentHeaders(m.headers).seq);
      if (m.info.pending === 0) break;
    }
    return seqs;
  }

  it('drops the oldest beyond the bound, reports the hole once per stream, and both streams go on past it', async () => {
    const before: Record<string, number> = { [A]: await h.lastEventSeq(A, 'publish-ended'), [B]: await h.lastEventSeq(B, 'publish-ended') };
    const publishers = [A, B].map((id) => publishRtmp(clip, `rtmp://127.0.0.1:${h.rtmpPort}/live/${keys[id]}`, { realtime: true, timeoutMs: 60_000 }));

    // Both streams are live on the bus before the outage.
    await waitFor('3 segments of each stream on lm.out', 15_000, async () => (await outputSeqs(A)).length >= 3 && (await outputSeqs(B)).length >= 3, { retryErrors: true });

    // Read before the outage: a request to a stopped server only times out.
    const events: Record<string, number> = { [A]: await h.lastEventSeq(A, 'segments-dropped'), [B]: await h.lastEventSeq(B, 'segments-dropped') };
    const downAt = Date.now();
    await h.nats.down();
    let maxQueue = 0;
    let maxBytes = 0;
    const dropsSeen = await waitFor(`${DROPS_BEFORE_RESTART} segments dropped by ingest's queue`, 20_000, async () => {
      const text = await metrics();
      maxQueue = Math.max(maxQueue, metricValue(text, 'livemesh_ingest_queue_segments'));
      maxBytes = Math.max(maxBytes, metricValue(text, 'livemesh_ingest_queue_bytes'));
      const dropped = metricValue(text, 'livemesh_ingest_segments_dropped_total{reason="ingest-queue-full"}');
      return dropped >= DROPS_BEFORE_RESTART ? dropped : undefined;
    }, { intervalMs: 200 });
    await h.nats.up();
    const upAt = Date.now();

    const dropped: Record<string, SegmentsDroppedData> = {};
    for (const id of [A, B]) {
      const { event } = await h.eventAfter(id, 'segments-dropped', events[id] ?? 0, 15_000);
      dropped[id] = event.data as unknown as SegmentsDroppedData;
      expect(event.seq).toBe(dropped[id].from);
    }

    for (const r of await Promise.all(publishers)) expect(r).toEqual({ code: 0, stderr: '' });
    const ended: Record<string, number> = {};
    for (const id of [A, B]) ended[id] = (await h.eventAfter(id, 'publish-ended', before[id] ?? 0, 20_000)).event.data?.segments as number;

    const text = await metrics();
    const figures: Record<string, unknown> = {
      outageMs: upAt - downAt,
      droppedWhileDown: dropsSeen,
      droppedTotal: metricValue(text, 'livemesh_ingest_segments_dropped_total{reason="ingest-queue-full"}'),
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
      const d = dropped[id]!;
      const seqs = await outputSeqs(id);
      const hole = Array.from({ length: d.to - d.from + 1 }, (_, i) => d.from + i);
      const last = Math.max(...seqs);
      const expected = Array.from({ length: last + 1 }, (_, i) => i).filter((s) => s < d.from || s > d.to);
      figures[id] = { dropped: d, published: ended[id], seqsAfterHole: seqs.filter((s) => s > d.to).length, lastSeq: last };
      expect(d).toMatchObject({ reason: 'ingest-queue-full', count: hole.length });
      expect(d.count).toBeGreaterThanOrEqual(1);
      // Exactly the hole: every other seq once, in order, and the numbering goes on past it.
      expect(seqs).toEqual(expected);
      expect(seqs.filter((s) => s > d.to).length).toBeGreaterThanOrEqual(BOUND);
      expect(ended[id]).toBe(seqs.length);
      dropsInEvents += d.count;
    }
    console.log(`ingest backpressure figures: ${JSON.stringify(figures, null, 2)}`);

    // One event per run: the metric's drops are the events' drops, nothing more.
    expect(dropsInEvents).toBe(figures.droppedTotal);
    expect(figures.peakQueueOneStream).toBeLessThanOrEqual(BOUND);
    expect(maxQueue).toBeLessThanOrEqual(2 * BOUND);
    expect(figures.queueAfter).toBe(0);

    // Delivery marks the hole instead of waiting for it.
    const playlist = await waitFor('the hole marked in the playlist', 10_000, async () => {
      const t = await (await fetch(h.hls(A))).text();
      return t.includes('#EXT-X-DISCONTINUITY') ? t : undefined;
    }, { retryErrors: true });
    expect(playlist).toContain('#EXT-X-DISCONTINUITY');
  });
});
