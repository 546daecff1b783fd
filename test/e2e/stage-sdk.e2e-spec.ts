// The stage SDK end to end: a real nats-server, real ffmpeg, the built-in watermark -> transcode
// chain run in-process by runStage, fed with MPEG-TS segments cut from a generated clip.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BUCKETS,
  SEGMENT_HEADERS,
  STREAMS,
  consumers,
  loadEnv,
  subjects,
  type ChainSpec,
  type Env,
  type SegmentMeta,
  type StreamEvent,
} from '@livemesh/contracts';
import { Bus, encodeSegmentHeaders, ensureTopology, publishSegment, readSegment, type BusHeaders } from '@livemesh/bus';
import { probe, streamStartSeconds } from '@livemesh/media';
import { transcodeStage, watermarkStage } from '@livemesh/services';
import { runStage, type StageHandle } from '@livemesh/stage-sdk';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { cutTestSegments, stageInputs, type StageInput } from '../support/segments.js';
import { waitFor } from '../support/wait.js';

const HOSTILE_TEXT = "a'b:c,d%{pts}\\e;[x]";
const STREAM = 's1';

interface Received {
  subject: string;
  headers: BusHeaders | undefined;
  data: Uint8Array;
}

describe('stage SDK with the built-in watermark -> transcode chain', () => {
  let nats: NatsServer;
  let bus: Bus;
  let env: Env;
  let dir: string;
  let inputs: StageInput[];
  const handles: StageHandle[] = [];
  const outputs: Received[] = [];
  const deadLetterEvents: StreamEvent[] = [];
  const failedEvents: StreamEvent[] = [];
  const deadLetters: Received[] = [];

  const ffTimeout = 60_000;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-stage-e2e-'));
    // 6 s of 640x360 H.264 + AAC, cut on its 2 s key frames the way ingest does (copy, source timeline).
    inputs = await stageInputs(await cutTestSegments(dir, 6, ffTimeout, { width: 640, height: 360 }), STREAM, ffTimeout);
    expect(inputs).toHaveLength(3);

    nats = await startNatsServer();
    env = loadEnv({ NATS_URL: nats.url, MEDIA_TIMEOUT_MS: String(ffTimeout), STAGE_MAX_ATTEMPTS: '3' });
    bus = await Bus.connect({ url: nats.url, name: 'stage-sdk-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: 600 });

    const chain: ChainSpec = {
      streamId: STREAM,
      version: 1,
      updatedAt: new Date().toISOString(),
      // This suite is about the stage, not latency: a budget no queue of fixtures on a busy machine reaches.
      latencyBudgetMs: 300_000,
      hops: [
        { index: 0, service: 'watermark', params: { text: HOSTILE_TEXT, position: 'top-left' }, subject: subjects.segment('watermark', STREAM, 0), next: subjects.segment('transcode', STREAM, 1) },
        { index: 1, service: 'transcode', params: { width: 854, height: 480 }, subject: subjects.segment('transcode', STREAM, 1), next: null },
      ],
    };
    await bus.store(BUCKETS.chains).put(STREAM, chain);

    const collect = (subject: string, into: Received[]) => {
      const sub = bus.subscribe(subject);
      void (async () => {
        for await (const m of sub) into.push({ subject: m.subject, headers: m.headers, data: m.data });
      })();
    };
    collect(subjects.output(STREAM, 'main'), outputs);
    collect(subjects.deadLetter('watermark', STREAM), deadLetters);
    const evt = bus.subscribe(subjects.streamEvent(STREAM, 'dead-letter'));
    void (async () => {
      for await (const m of evt) deadLetterEvents.push(m.json<StreamEvent>());
    })();
    const failed = bus.subscribe(subjects.streamEvent(STREAM, 'segment-failed'));
    void (async () => {
      for await (const m of failed) failedEvents.push(m.json<StreamEvent>());
    })();
    await bus.flush();

    handles.push(await runStage(watermarkStage, { env, bus, ackWaitMs: 15_000, metrics: { port: 0, host: '127.0.0.1' } }));
    handles.push(await runStage(transcodeStage, { env, bus, ackWaitMs: 15_000 }));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const publishInput = (meta: SegmentMeta, data: Uint8Array, inlineLimit = env.INLINE_LIMIT_BYTES) =>
    publishSegment(bus, subjects.segment('watermark', STREAM, 0), { meta, data }, { inlineLimit });

  const outputOf = (seq: number) => outputs.find((o) => o.headers?.get(SEGMENT_HEADERS.seq) === String(seq));

  it('turns 3 source segments into 854x480 H.264 with audio on the source timeline (hostile watermark text included)', async () => {
    for (const [i, input] of inputs.entries()) {
      // The last one travels by claim check, so the object-store path is exercised too.
      await publishInput(input.meta, input.data, i === 2 ? 64 * 1024 : env.INLINE_LIMIT_BYTES);
    }
    await waitFor('3 output segments', 120_000, () => [0, 1, 2].every((s) => outputOf(s)));

    for (const input of inputs) {
      const seg = await readSegment(bus, outputOf(input.meta.seq)!);
      expect(seg.meta).toMatchObject({ streamId: STREAM, seq: input.meta.seq, rendition: 'main', pts: input.meta.pts, duration: input.meta.duration, epoch: 0, chainVersion: 1 });
      const out = await probe(seg.data, { timeoutMs: ffTimeout, format: 'mpegts' });
      const video = out.streams.find((s) => s.codec_type === 'video');
      expect(video).toMatchObject({ codec_name: 'h264', width: 854, height: 480 });
      expect(out.streams.some((s) => s.codec_type === 'audio')).toBe(true);
      for (const kind of ['video', 'audio'] as const) {
        const want = streamStartSeconds(input.probe, kind);
        expect(want).toBeDefined();
        expect(streamStartSeconds(out, kind)).toBeCloseTo(want!, 3);
      }
    }
    expect(deadLetterEvents).toHaveLength(0);
  }, 150_000);

  it('dead-letters a corrupt segment at once and goes on with the next good one', async () => {
    const corrupt: SegmentMeta = { ...inputs[0]!.meta, seq: 3, pts: 6, ingestTime: Date.now() };
    // Random bytes that do not start with the 0x47 sync byte (by chance they would one time in 256).
    const junk = new Uint8Array(randomBytes(40_000));
    junk[0] = 0x00;
    await publishInput(corrupt, junk);
    const event = await waitFor('a dead-letter event for seq 3', 60_000, () => deadLetterEvents.find((e) => e.seq === 3));
    expect(event).toMatchObject({ streamId: STREAM, kind: 'dead-letter', service: 'watermark', hop: 0 });
    expect(event.message).toMatch(/^unusable input: segment is not MPEG-TS: it starts with 0x00.* instead of the 0x47 sync byte/);
    expect(event.data).toMatchObject({ code: 'LM_MEDIA_INPUT', attempts: 1 });

    const dlq = await waitFor('a message on the dead-letter subject', 10_000, () => deadLetters.find((d) => d.headers?.get(SEGMENT_HEADERS.seq) === '3'));
    expect(dlq.headers?.get(SEGMENT_HEADERS.error)).toMatch(/segment is not MPEG-TS: it starts with 0x00/);
    expect(dlq.headers?.get(SEGMENT_HEADERS.service)).toBe('watermark');
    expect(dlq.data.byteLength).toBe(40_000);

    const good: SegmentMeta = { ...inputs[1]!.meta, seq: 4, ingestTime: Date.now() };
    await publishInput(good, inputs[1]!.data);
    await waitFor('the good segment after the corrupt one', 60_000, () => outputOf(4));
    expect(outputOf(3)).toBeUndefined();
  }, 150_000);

  it("refuses a segment at a hop the chain gives to another service, and a claim check that is not the segment's own", async () => {
    // Hop 0 is watermark's: the same segment on transcode's subject for hop 0 is not transcode's to process.
    const misrouted: SegmentMeta = { ...inputs[0]!.meta, seq: 20, ingestTime: Date.now() };
    await publishSegment(bus, subjects.segment('transcode', STREAM, 0), { meta: misrouted, data: inputs[0]!.data }, { inlineLimit: env.INLINE_LIMIT_BYTES });
    const refused = await waitFor('a segment-failed event for seq 20', 60_000, () => failedEvents.find((e) => e.seq === undefined && e.service === 'transcode' && e.hop === 0));
    expect(refused.message).toMatch(/chain v1 of stream s1 runs watermark at hop 0, not transcode: segment refused/);
    expect(refused.data).toMatchObject({ code: 'LM_BAD_SEGMENT' });

    // A claim check naming another blob: the worker must neither read it nor delete it.
    await bus.putBlob('seg/victim', new Uint8Array([1, 2, 3]));
    const forged: SegmentMeta = { ...inputs[1]!.meta, seq: 21, ingestTime: Date.now(), blob: 'seg/victim' };
    await bus.publish(subjects.segment('watermark', STREAM, 0), new Uint8Array(0), { msgId: 'forged-21', headers: encodeSegmentHeaders(forged, 'forged-21') });
    const forgedEvent = await waitFor('a segment-failed event for the forged blob', 60_000, () => failedEvents.find((e) => /seg\/victim/.test(e.message ?? '')));
    expect(forgedEvent).toMatchObject({ service: 'watermark', hop: 0, data: { code: 'LM_BAD_SEGMENT' } });
    expect(forgedEvent.message).toMatch(/blob seg\/victim is not this segment's own/);
    expect(await bus.blobSize('seg/victim')).toBe(3);
    expect(outputOf(20)).toBeUndefined();
    expect(outputOf(21)).toBeUndefined();
  }, 150_000);

  it('reports heartbeats and metrics', async () => {
    const workers = bus.store(BUCKETS.workers);
    const beats = await workers.list();
    expect(beats.map((b) => b.value.service).sort()).toEqual(['transcode', 'watermark']);
    const wm = beats.find((b) => b.value.service === 'watermark')!;
    expect(wm.key).toBe(`watermark.${handles[0]!.workerId}`);

    const res = await fetch(`http://127.0.0.1:${handles[0]!.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toMatch(/livemesh_stage_segments_processed_total\{service="watermark"\} [4-9]/);
    expect(body).toMatch(/livemesh_stage_segments_failed_total\{service="watermark",outcome="dead-letter"\} 1/);
  }, 30_000);

  it('drops segments of a stream whose chain is gone, and stop() drains and removes the heartbeat', async () => {
    await bus.store(BUCKETS.chains).delete(STREAM);
    const before = outputs.length;
    // What LM_OUT stores, not what this test's subscription has seen so far: a stage acks its input
    // only once its output is stored, so an output for seq 5 would be counted here by the time the
    // input is gone, while a subscriber might not have it yet.
    const stored = async () => Object.values((await bus.streamInfo(STREAMS.output, { subjects: subjects.output(STREAM, 'main') })).subjects).reduce((a, n) => a + n, 0);
    const storedBefore = await stored();
    const late: SegmentMeta = { ...inputs[2]!.meta, seq: 5, ingestTime: Date.now() };
    await publishInput(late, inputs[2]!.data);
    // The work-queue stream is empty once the stage has acked (dropped) it: nothing left behind,
    // not even the dead-lettered segment (a term it ignored would sit there and come back).
    await waitFor('the late segment to be consumed', 30_000, async () => {
      const c = await bus.consumerInfo(STREAMS.segments, consumers.service('watermark'));
      const s = await bus.streamInfo(STREAMS.segments);
      return c.pending === 0 && c.ackPending === 0 && s.messages === 0;
    });
    expect(await stored()).toBe(storedBefore);
    expect(outputs.length).toBe(before);

    await Promise.all(handles.map((h) => h.stop()));
    expect(await bus.store(BUCKETS.workers).keys()).toEqual([]);
  }, 60_000);
});
