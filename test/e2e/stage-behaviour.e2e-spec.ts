// How runStage behaves around the happy path, with small stages defined here (no ffmpeg): retries
// with back-off, giving up after the last attempt, ABR fan-out, a chain change applied from the
// next segment, per-stream state, and a drain that finishes in-flight work.
import {
  BUCKETS,
  SEGMENT_HEADERS,
  STREAMS,
  loadEnv,
  subjects,
  type ChainSpec,
  type Env,
  type SegmentMeta,
  type StreamEvent,
} from '@livemesh/contracts';
import { Bus, JsonStore, ensureTopology, publishSegment, type BusHeaders } from '@livemesh/bus';
import { defineStage, runStage, type StageHandle } from '@livemesh/stage-sdk';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait.js';

interface Received {
  subject: string;
  headers: BusHeaders | undefined;
  data: Uint8Array;
}

const meta = (streamId: string, seq: number, hop = 0): SegmentMeta => ({
  streamId, seq, hop, rendition: 'main', pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1,
});
const text = (d: Uint8Array) => new TextDecoder().decode(d);
const bytes = (s: string) => new TextEncoder().encode(s);

describe('runStage behaviour', () => {
  let nats: NatsServer;
  let bus: Bus;
  let env: Env;
  let chains: JsonStore<ChainSpec>;
  const received: Received[] = [];
  const events: StreamEvent[] = [];

  const collect = (subject: string) => {
    const sub = bus.subscribe(subject);
    void (async () => {
      for await (const m of sub) received.push({ subject: m.subject, headers: m.headers, data: m.data });
    })();
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    env = loadEnv({ NATS_URL: nats.url, STAGE_MAX_ATTEMPTS: '3' });
    bus = await Bus.connect({ url: nats.url, name: 'stage-behaviour-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: 600 });
    chains = bus.store(BUCKETS.chains);
    collect(subjects.allOutput);
    collect(subjects.allDeadLetter);
    const evt = bus.subscribe(subjects.streamEvents());
    void (async () => {
      for await (const m of evt) events.push(m.json<StreamEvent>());
    })();
    await bus.flush();
  }, 60_000);

  afterAll(async () => {
    await bus?.close();
    await nats?.stop();
  }, 30_000);

  const oneHop = async (streamId: string, service: string, params: Record<string, unknown> = {}, version = 1) => {
    await chains.put(streamId, {
      streamId, version, updatedAt: new Date().toISOString(),
      // This suite is about the stage, not latency: a budget no queue of fixtures on a busy machine reaches.
      latencyBudgetMs: 300_000,
      hops: [{ index: 0, service, params, subject: subjects.segment(service, streamId, 0), next: null }],
    });
  };
  const outputsOf = (streamId: string) => received.filter((r) => r.subject.startsWith(`lm.out.${streamId}.`));

  it('retries a failing segment with back-off, then dead-letters it after the last attempt; the stream goes on', async () => {
    const attempts = new Map<number, number[]>();
    const flaky = defineStage({
      name: 'flaky',
      // Its segments are a few bytes of text, not MPEG-TS: no probe.
      inspect: false,
      process: (ctx) => {
        const times = attempts.get(ctx.segment.meta.seq) ?? [];
        times.push(Date.now());
        attempts.set(ctx.segment.meta.seq, times);
        // seq 0 works on its second attempt; seq 1 never does.
        if (ctx.segment.meta.seq === 1 || times.length < 2) throw new Error(`transient failure #${times.length}`);
        return { data: ctx.segment.data };
      },
    });
    await oneHop('r1', 'flaky');
    const h = await runStage(flaky, { env, bus });
    try {
      for (const seq of [0, 1, 2]) await publishSegment(bus, subjects.segment('flaky', 'r1', 0), { meta: meta('r1', seq), data: bytes(`s${seq}`) }, { inlineLimit: 1 << 20 });
      await waitFor('seq 0 and 2 out, seq 1 dead-lettered', 30_000, () =>
        outputsOf('r1').length === 2 && events.some((e) => e.streamId === 'r1' && e.kind === 'dead-letter'));
      expect(outputsOf('r1').map((o) => text(o.data)).sort()).toEqual(['s0', 's2']);
      expect(attempts.get(0)).toHaveLength(2);
      expect(attempts.get(1)).toHaveLength(3);
      const [a1, a2, a3] = attempts.get(1)!;
      // nak back-off: 500 ms after the first failure, 1 s after the second.
      expect(a2! - a1!).toBeGreaterThanOrEqual(450);
      expect(a3! - a2!).toBeGreaterThanOrEqual(950);
      const dead = events.find((e) => e.streamId === 'r1' && e.kind === 'dead-letter')!;
      expect(dead).toMatchObject({ service: 'flaky', seq: 1, hop: 0, data: { attempts: 3 } });
      expect(dead.message).toMatch(/transient failure #3/);
      const dlq = received.find((r) => r.subject === subjects.deadLetter('flaky', 'r1'))!;
      expect(text(dlq.data)).toBe('s1');
      expect(dlq.headers?.get(SEGMENT_HEADERS.error)).toMatch(/transient failure #3/);
    } finally {
      await h.stop();
    }
  }, 60_000);

  it('aborts a segment whose process() never returns at STAGE_TIMEOUT_MS, retries, dead-letters it, and keeps serving', async () => {
    const calls = new Map<number, number>();
    let sawAbort = 0;
    const stuck = defineStage({
      name: 'stuck',
      inspect: false,
      process: (ctx) => {
        const { seq } = ctx.segment.meta;
        calls.set(seq, (calls.get(seq) ?? 0) + 1);
        if (seq !== 0) return { data: ctx.segment.data };
        ctx.signal.addEventListener('abort', () => sawAbort++);
        // Never settles, and ignores the signal: only the SDK's deadline can end it.
        return new Promise<never>(() => undefined);
      },
    });
    await oneHop('stuck1', 'stuck');
    const h = await runStage(stuck, { env, bus, stageTimeoutMs: 1000 });
    try {
      for (const seq of [0, 1]) await publishSegment(bus, subjects.segment('stuck', 'stuck1', 0), { meta: meta('stuck1', seq), data: bytes(`s${seq}`) }, { inlineLimit: 1 << 20 });
      await waitFor('seq 1 out', 10_000, () => outputsOf('stuck1').length === 1);
      // One slot: seq 1 got it only because the deadline freed it from the stuck seq 0.
      expect(events.some((e) => e.streamId === 'stuck1' && e.kind === 'dead-letter')).toBe(false);
      const dead = await waitFor('seq 0 dead-lettered', 20_000, () => events.find((e) => e.streamId === 'stuck1' && e.kind === 'dead-letter'));
      expect(dead).toMatchObject({ service: 'stuck', seq: 0, data: { code: 'LM_STAGE_TIMEOUT', attempts: 3 } });
      expect(dead.message).toMatch(/STAGE_TIMEOUT_MS \(1000 ms\)/);
      expect(calls.get(0)).toBe(3);
      expect(sawAbort).toBe(3);
      expect(outputsOf('stuck1').map((o) => text(o.data))).toEqual(['s1']);
    } finally {
      await h.stop();
    }
  }, 60_000);

  it('fans an ABR ladder out to one output per rendition', async () => {
    const ladder = defineStage({
      name: 'ladder',
      // Its segments are a few bytes of text, not MPEG-TS: no probe.
      inspect: false,
      // What it hands on beside each rendition is declared, as every emitted transfer parameter must be.
      transfer: { emits: { rung: { type: 'string', enum: ['hi', 'lo'] } } },
      process: (ctx) => ['hi', 'lo'].map((rendition) => ({ rendition, data: bytes(`${rendition}:${text(ctx.segment.data)}`), transfer: { rung: rendition } })),
    });
    await oneHop('r2', 'ladder');
    const h = await runStage(ladder, { env, bus });
    try {
      await publishSegment(bus, subjects.segment('ladder', 'r2', 0), { meta: meta('r2', 0), data: bytes('x') }, { inlineLimit: 1 << 20 });
      await waitFor('two renditions', 15_000, () => outputsOf('r2').length === 2);
      const byRendition = Object.fromEntries(outputsOf('r2').map((o) => [o.subject, [text(o.data), o.headers?.get(SEGMENT_HEADERS.rendition), o.headers?.get(SEGMENT_HEADERS.transfer)]]));
      expect(byRendition).toEqual({
        [subjects.output('r2', 'hi')]: ['hi:x', 'hi', '{"rung":"hi"}'],
        [subjects.output('r2', 'lo')]: ['lo:x', 'lo', '{"rung":"lo"}'],
      });
    } finally {
      await h.stop();
    }
  }, 30_000);

  it('applies a chain change from the next segment and keeps per-stream state across segments', async () => {
    const seen: { seq: number; label: unknown; count: number }[] = [];
    const tag = defineStage<{ label: string }>({
      name: 'tag',
      // Its segments are a few bytes of text, not MPEG-TS: no probe.
      inspect: false,
      params: { type: 'object', additionalProperties: false, properties: { label: { type: 'string', default: 'none' } } },
      process: (ctx) => {
        const count = ((ctx.state.get('count') as number | undefined) ?? 0) + 1;
        ctx.state.set('count', count);
        seen.push({ seq: ctx.segment.meta.seq, label: ctx.params.label, count });
        return { data: bytes(ctx.params.label) };
      },
    });
    await oneHop('r3', 'tag', { label: 'first' });
    const h = await runStage(tag, { env, bus });
    const send = (seq: number) => publishSegment(bus, subjects.segment('tag', 'r3', 0), { meta: meta('r3', seq), data: bytes('x') }, { inlineLimit: 1 << 20 });
    try {
      await send(0);
      await waitFor('seq 0', 15_000, () => outputsOf('r3').length === 1);
      await oneHop('r3', 'tag', { label: 'second' }, 2);
      // The segment says it was routed with v2: the stage reads the chain again if its watch lags.
      await publishSegment(bus, subjects.segment('tag', 'r3', 0), { meta: { ...meta('r3', 1), chainVersion: 2 }, data: bytes('x') }, { inlineLimit: 1 << 20 });
      await waitFor('seq 1', 15_000, () => outputsOf('r3').length === 2);
      await chains.delete('r3');
      await oneHop('r3', 'tag', { label: 'third' }, 3);
      await publishSegment(bus, subjects.segment('tag', 'r3', 0), { meta: { ...meta('r3', 2), chainVersion: 3 }, data: bytes('x') }, { inlineLimit: 1 << 20 });
      await waitFor('seq 2', 15_000, () => outputsOf('r3').length === 3);
      expect(seen.map((s) => s.label)).toEqual(['first', 'second', 'third']);
      expect(seen[1]!.count).toBe(2);
      expect(outputsOf('r3').map((o) => o.headers?.get(SEGMENT_HEADERS.chainVersion))).toEqual(['1', '2', '3']);
    } finally {
      await h.stop();
    }
  }, 30_000);

  it('drains on stop(): a segment in flight is finished and published before stop() resolves', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    const slow = defineStage({
      name: 'slow',
      // Its segments are a few bytes of text, not MPEG-TS: no probe.
      inspect: false,
      process: async (ctx) => {
        started = true;
        await gate;
        return { data: ctx.segment.data };
      },
    });
    await oneHop('r4', 'slow');
    const h: StageHandle = await runStage(slow, { env, bus, drainTimeoutMs: 10_000 });
    await publishSegment(bus, subjects.segment('slow', 'r4', 0), { meta: meta('r4', 0), data: bytes('late') }, { inlineLimit: 1 << 20 });
    await waitFor('the slow segment to start', 15_000, () => started);
    // What LM_OUT holds for r4 at the moment stop() resolves (JetStream stores a message before it
    // acks its publisher): a publish after stop() resolved would not be counted yet.
    const storedOutputs = async () => Object.values((await bus.streamInfo(STREAMS.output, { subjects: 'lm.out.r4.>' })).subjects).reduce((a, n) => a + n, 0);
    let stopped = false;
    const stopping = h.stop().then(async () => {
      stopped = true;
      return storedOutputs();
    });
    await bus.flush();
    expect(stopped).toBe(false);
    expect(await storedOutputs()).toBe(0);
    release();
    expect(await stopping).toBe(1);
    await h.done;
    await waitFor('the drained segment on the output', 5_000, () => outputsOf('r4').length === 1);
  }, 30_000);
});
