// Intermediate hops hand on a mezzanine: an unfused watermark -> transcode chain, planned by the
// orchestrator's planner from the built-in catalogue, run by real workers (runStage on a real
// nats-server, the warm engine). What watermark publishes to transcode is captured on hop 1's
// subject and its x264 settings read from the stream itself; a second stream whose chain lacks the
// mark (as one planned before it existed) shows the same capture tells the two encodes apart.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUCKETS, loadEnv, subjects, type ChainSpec, type Env, type Segment } from '@livemesh/contracts';
import { Bus, ensureTopology, publishSegment, readSegment } from '@livemesh/bus';
import { MEZZANINE_ENCODE, probe, runFfmpeg } from '@livemesh/media';
import { BUILT_IN_SERVICES, transcodeStage, watermarkStage } from '@livemesh/services';
import { runStage, type StageHandle } from '@livemesh/stage-sdk';
import { buildChainSpec, planChain } from '../../apps/orchestrator/src/planner/chain.planner.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { cutTestSegments, stageInputs, type StageInput } from '../support/segments.js';
import { waitFor } from '../support/wait.js';

const MEZZ = 'mezz';
const FINAL = 'final';
// Below any 720p segment: every hand-off travels by claim check, the path a large mezzanine takes.
const INLINE_LIMIT = 64 * 1024;
const ffTimeout = 60_000;

/** The `options:` line libx264 writes into its SEI (e.g. `cabac=0 ... rc=crf ... crf=12.0`), as key -> value. */
async function x264Options(ts: Uint8Array): Promise<Map<string, string>> {
  const { stdout } = await runFfmpeg(['-hide_banner', '-loglevel', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-map', '0:v:0', '-c', 'copy', '-f', 'h264', 'pipe:1'], { input: ts, timeoutMs: ffTimeout });
  const text = Buffer.from(stdout).toString('latin1');
  const at = text.indexOf('x264 - core');
  expect(at).toBeGreaterThanOrEqual(0);
  const line = text.slice(text.indexOf('options:', at) + 'options:'.length, text.indexOf('\0', at));
  return new Map(line.trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]));
}

describe('an intermediate hop hands on a mezzanine', () => {
  let nats: NatsServer;
  let bus: Bus;
  let env: Env;
  let dir: string;
  let inputs: StageInput[];
  let chain: ChainSpec;
  const handles: StageHandle[] = [];
  const handedOn = new Map<string, Promise<Segment>[]>([[MEZZ, []], [FINAL, []]]);
  const outputs = new Map<string, Promise<Segment>[]>([[MEZZ, []], [FINAL, []]]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-mezz-e2e-'));
    inputs = await stageInputs(await cutTestSegments(dir, 4, ffTimeout, { width: 1280, height: 720 }), MEZZ, ffTimeout);
    expect(inputs).toHaveLength(2);

    nats = await startNatsServer();
    env = loadEnv({ NATS_URL: nats.url, MEDIA_TIMEOUT_MS: String(ffTimeout), INLINE_LIMIT_BYTES: String(INLINE_LIMIT) });
    bus = await Bus.connect({ url: nats.url, name: 'stage-mezzanine-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: 600 });

    const services = new Map(BUILT_IN_SERVICES.map((s) => [s.spec.name, s.spec]));
    const plan = planChain({ id: MEZZ, stages: [{ service: 'watermark' }, { service: 'transcode', params: { width: 854, height: 480 } }], fuse: false }, { services, pipelines: [] });
    // Transcode starts only after the hand-offs are read (below), so its segments wait on purpose:
    // a budget that covers the wait, since this suite is about encoding, not latency.
    const budget = { latencyBudgetMs: 120_000 };
    chain = buildChainSpec(MEZZ, 1, plan.stages, plan.fused, new Date(), budget);
    const chains = bus.store(BUCKETS.chains);
    await chains.put(MEZZ, chain);
    // The same chain for another stream, without the mark: watermark encodes at its own settings.
    const plain = buildChainSpec(FINAL, 1, plan.stages.map(({ service, params }) => ({ service, params })), plan.fused, new Date(), budget);
    await chains.put(FINAL, plain);

    // A core subscription sees every JetStream publish; the claim-checked bytes are read at once.
    const collect = (subject: (stream: string) => string, into: Map<string, Promise<Segment>[]>) => {
      for (const stream of [MEZZ, FINAL]) {
        const sub = bus.subscribe(subject(stream));
        void (async () => {
          for await (const m of sub) into.get(stream)!.push(readSegment(bus, { data: m.data, headers: m.headers }));
        })();
      }
    };
    collect((s) => subjects.segment('transcode', s, 1), handedOn);
    collect((s) => subjects.output(s, 'main'), outputs);
    await bus.flush();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('marks only the hop before the re-encoding one', () => {
    expect(chain.hops.map((h) => [h.service, h.fusedThrough, h.handOff])).toEqual([
      ['watermark', undefined, 'mezzanine'],
      ['transcode', undefined, undefined],
    ]);
  });

  it('hands transcode a fast near-lossless H.264 and still delivers 854x480 at the delivery settings', async () => {
    handles.push(await runStage(watermarkStage, { env, bus, ackWaitMs: 15_000 }));
    for (const stream of [MEZZ, FINAL]) {
      for (const input of inputs) {
        await publishSegment(bus, subjects.segment('watermark', stream, 0), { meta: { ...input.meta, streamId: stream }, data: input.data }, { inlineLimit: INLINE_LIMIT });
      }
    }
    // transcode starts only once both hand-offs are read: its consumer then deletes their blobs.
    await waitFor('2 hand-offs per stream', 30_000, () => handedOn.get(MEZZ)!.length === 2 && handedOn.get(FINAL)!.length === 2);
    const mezz = await Promise.all(handedOn.get(MEZZ)!);
    const final = await Promise.all(handedOn.get(FINAL)!);

    for (const seg of mezz) {
      expect(seg.meta.blob).toBeDefined();
      const o = await x264Options(seg.data);
      expect(o.get('rc')).toBe('crf');
      expect(Number(o.get('crf'))).toBe(MEZZANINE_ENCODE.crf);
      // ultrafast: CAVLC and no deblocking, cheap for the next hop to decode.
      expect(o.get('cabac')).toBe('0');
      const video = (await probe(seg.data, { timeoutMs: ffTimeout, format: 'mpegts' })).streams.find((s) => s.codec_type === 'video');
      expect(video).toMatchObject({ codec_name: 'h264', width: 1280, height: 720 });
    }
    for (const seg of final) {
      const o = await x264Options(seg.data);
      expect(Number(o.get('crf'))).toBe(23);
      expect(o.get('cabac')).toBe('1');
    }
    const bytes = (segs: Segment[]) => segs.reduce((n, s) => n + s.data.byteLength, 0);
    expect(bytes(mezz)).toBeGreaterThan(2 * bytes(final));

    handles.push(await runStage(transcodeStage, { env, bus, ackWaitMs: 15_000 }));
    await waitFor('2 outputs per stream', 30_000, () => outputs.get(MEZZ)!.length === 2 && outputs.get(FINAL)!.length === 2);
    for (const stream of [MEZZ, FINAL]) {
      const segs = await Promise.all(outputs.get(stream)!);
      expect(segs.map((s) => s.meta.seq).sort()).toEqual([0, 1]);
      for (const seg of segs) {
        const video = (await probe(seg.data, { timeoutMs: ffTimeout, format: 'mpegts' })).streams.find((s) => s.codec_type === 'video');
        expect(video).toMatchObject({ codec_name: 'h264', width: 854, height: 480 });
        const o = await x264Options(seg.data);
        expect(o.get('bitrate')).toBe('1200');
        expect(o.get('cabac')).toBe('1');
      }
    }
  }, 60_000);
});
