// Typed transfer parameters on real components: an in-process orchestrator on a real nats-server
// plans the chains (422 for a stage whose required parameter nothing before it emits; the chain
// spec shows what each hop emits and reads), and the built-in detect and transcode stages run
// in-process by runStage on real ffmpeg: detect sees a scene cut inside a segment and hands it on,
// transcode forces a key frame there (probed with ffprobe). A segment whose transfer does not fit
// what its stage reads is dead-lettered as bad input.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEGMENT_HEADERS, loadEnv, subjects, type ChainSpec, type SegmentMeta } from '@livemesh/contracts';
import { publishSegment, type BusHeaders } from '@livemesh/bus';
import { parseSegmentListLine, runFfmpeg, runFfprobe, segmenterArgs } from '@livemesh/media';
import { detectStage, transcodeStage } from '@livemesh/services';
import { runStage, type StageHandle } from '@livemesh/stage-sdk';
import { startInProcessOrchestrator, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';
import { waitFor } from '../support/wait.js';

const T = 60_000;
const JSON_HEADERS = { 'content-type': 'application/json' };

interface Out {
  subject: string;
  headers: BusHeaders | undefined;
  data: Uint8Array;
}

/** Video key frames of an MPEG-TS segment, source-timeline seconds. */
async function keyFrames(data: Uint8Array): Promise<number[]> {
  const { stdout } = await runFfprobe(['-v', 'error', '-f', 'mpegts', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', '-i', 'pipe:0'], { input: data, timeoutMs: T });
  return stdout.toString().split('\n').filter((l) => /,K/.test(l)).map((l) => Number(l.split(',')[0]));
}

describe('typed transfer parameters between stages (real NATS, ffmpeg)', () => {
  let o: InProcessOrchestrator;
  let dir: string;
  const handles: StageHandle[] = [];
  const outs: Out[] = [];
  /** 4 s at 25 fps cut in two 2 s segments; the picture changes completely at 3.0 s (inside the second). */
  let segments: { meta: Omit<SegmentMeta, 'streamId' | 'ingestTime'>; data: Uint8Array }[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-transfer-e2e-'));
    const clip = join(dir, 'clip.ts');
    await runFfmpeg(
      [
        '-hide_banner', '-nostdin', '-loglevel', 'error',
        '-filter_complex', 'testsrc=size=320x240:rate=25:duration=3[a];color=c=red:size=320x240:rate=25:duration=1[b];[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]',
        '-map', '[v]', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '0', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-f', 'mpegts', clip,
      ],
      { timeoutMs: T },
    );
    const cut = await runFfmpeg(segmenterArgs({ input: { file: clip }, segmentSeconds: 2, outputPattern: join(dir, 'seg_%d.ts'), listTarget: 'pipe:1' }), { timeoutMs: T });
    const list = cut.stdout.toString('utf8').split('\n').map(parseSegmentListLine).filter((e) => e !== undefined);
    segments = await Promise.all(
      list.map(async (e, seq) => ({
        meta: { seq, hop: 0, rendition: 'main', pts: e.start, duration: e.end - e.start, epoch: 0, chainVersion: 1 },
        data: new Uint8Array(await readFile(join(dir, e.file.split('/').pop()!))),
      })),
    );
    expect(segments.map((s) => [s.meta.pts, s.meta.duration])).toEqual([[0, 2], [2, 2]]);

    o = await startInProcessOrchestrator('transfer-e2e', { STREAM_IDLE_TIMEOUT_S: '0' });
    o.bus.subscribe(subjects.allOutput, { callback: (err, m) => !err && outs.push({ subject: m.subject, headers: m.headers, data: m.data }) });
    await o.bus.flush();
    const env = loadEnv({ NATS_URL: o.nats.url, MEDIA_TIMEOUT_MS: String(T), STAGE_MAX_ATTEMPTS: '3' });
    handles.push(await runStage(detectStage, { env, bus: o.bus, ackWaitMs: 20_000 }), await runStage(transcodeStage, { env, bus: o.bus, ackWaitMs: 20_000 }));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
    await o?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await o.fetch(path, { method, headers: JSON_HEADERS, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };

  async function publish(streamId: string, chain: ChainSpec, seq: number, transfer?: Record<string, unknown>): Promise<void> {
    const s = segments[seq]!;
    const meta: SegmentMeta = { ...s.meta, streamId, chainVersion: chain.version, ingestTime: Date.now(), ...(transfer ? { transfer } : {}) };
    await publishSegment(o.bus, chain.hops[0]!.subject, { meta, data: s.data }, { inlineLimit: 1024 * 1024 });
  }

  it('refuses with 422 a chain where a stage requires a transfer parameter no stage before it emits, naming both', async () => {
    const keyer = {
      name: 'keyer',
      version: '1.0.0',
      input: 'segments',
      minReplicas: 0,
      maxReplicas: 1,
      paramSchema: { type: 'object', additionalProperties: false, properties: {} },
      transfer: { reads: { sceneCuts: { schema: { type: 'array', items: { type: 'number' } }, required: true } } },
    };
    expect((await api('POST', '/api/services', keyer)).status).toBe(201);
    const refused = await api('POST', '/api/streams', { id: 'tp-refused', stages: [{ service: 'watermark' }, { service: 'keyer' }] });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'LM_CHAIN_PLAN' });
    expect(refused.body.problems).toEqual(['stages[1].transfer.reads.sceneCuts: stage "keyer" requires transfer parameter "sceneCuts", which no stage before it emits']);
    // With detect earlier in the chain (not right before: transfer is carried forward) it plans.
    const ok = await api('POST', '/api/streams', { id: 'tp-fits', stages: [{ service: 'detect' }, { service: 'watermark' }, { service: 'keyer' }] });
    expect(ok.status).toBe(201);
    // A declaration whose schema the validator cannot use is refused when the service is registered.
    const broken = await api('POST', '/api/services', { ...keyer, name: 'keyer2', transfer: { emits: { x: { type: 'strin' } } } });
    expect(broken.status).toBe(400);
    expect(String((broken.body.problems as string[])[0])).toMatch(/^transfer\.emits\.x: /);
  });

  it('detect hands on the scene cut it saw, transcode forces a key frame there, and the chain spec shows both', async () => {
    const started = await api('POST', '/api/streams', { id: 'tp-pair', stages: [{ service: 'detect', params: { black: false, freeze: false, silence: false } }, { service: 'transcode', params: { width: 320, height: 240 } }] });
    expect(started.status).toBe(201);
    const shown = (await api('GET', '/api/streams/tp-pair')).body as { chain: ChainSpec };
    expect(shown.chain.hops.map((h) => h.transfer)).toEqual([
      { emits: ['sceneCuts'], reads: [] },
      { emits: ['width', 'height', 'videoBitrateKbps'], reads: [{ name: 'sceneCuts', required: false }] },
    ]);
    for (const seq of [0, 1]) await publish('tp-pair', shown.chain, seq);
    const out = await waitFor('both segments out of transcode', 90_000, () => {
      const dead = o.events.find((e) => e.streamId === 'tp-pair' && e.kind === 'dead-letter');
      if (dead) throw new Error(`dead-lettered: ${dead.message}`);
      const mine = outs.filter((x) => x.subject === subjects.output('tp-pair', 'main'));
      return mine.length >= 2 ? mine : undefined;
    });
    const bySeq = new Map(out.map((x) => [Number(x.headers?.get(SEGMENT_HEADERS.seq)), x]));
    const transfer = JSON.parse(bySeq.get(1)!.headers!.get(SEGMENT_HEADERS.transfer)) as Record<string, unknown>;
    expect(transfer).toMatchObject({ width: 320, height: 240 });
    expect(transfer.sceneCuts).toHaveLength(1);
    expect((transfer.sceneCuts as number[])[0]).toBeCloseTo(3, 1);
    // The second segment opens on its own key frame and gets one more where the picture cut.
    const keys = await keyFrames(bySeq.get(1)!.data);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBeCloseTo(2, 1);
    expect(keys[1]).toBeCloseTo(3, 1);
    // The first, without a cut, keeps one key frame.
    expect(JSON.parse(bySeq.get(0)!.headers!.get(SEGMENT_HEADERS.transfer)).sceneCuts).toEqual([]);
    expect(await keyFrames(bySeq.get(0)!.data)).toHaveLength(1);
  }, 120_000);

  it('dead-letters as bad input a segment whose transfer does not fit what its stage reads', async () => {
    const started = await api('POST', '/api/streams', { id: 'tp-bad', stages: [{ service: 'transcode', params: { width: 320, height: 240 } }] });
    expect(started.status).toBe(201);
    const chain = (started.body as { chain: ChainSpec }).chain;
    await publish('tp-bad', chain, 0, { sceneCuts: ['three'] });
    const dead = await waitFor('a dead letter', 30_000, () => o.events.find((e) => e.streamId === 'tp-bad' && e.kind === 'dead-letter'));
    // Bad input: dead-lettered at its first attempt, never retried.
    expect(dead.data).toMatchObject({ code: 'LM_BAD_SEGMENT', attempts: 1 });
    expect(dead.message).toBe("segment's transfer parameters do not fit what transcode reads: transfer.sceneCuts.0: must be number");
  }, 60_000);
});
