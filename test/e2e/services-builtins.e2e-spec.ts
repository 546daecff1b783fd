// The built-in services on real media: a real nats-server, real ffmpeg, each stage run in-process
// by runStage on MPEG-TS segments cut from generated clips (lavfi test sources with audio), and
// what comes out probed: sizes, frame rates, renditions, audio, thumbnails in the object store and
// detection events. Then the bad inputs: each one is dead-lettered with a clear error and the
// stage goes on with the next segment.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BUCKETS,
  SEGMENT_HEADERS,
  loadEnv,
  subjects,
  type ChainSpec,
  type Env,
  type StreamEvent,
  type StreamEventOf,
} from '@livemesh/contracts';
import { Bus, JsonStore, ensureTopology, publishSegment, readSegment, type BusHeaders } from '@livemesh/bus';
import { probe, runFfmpeg, runFfprobe, streamStartSeconds, testSourceArgs } from '@livemesh/media';
import { BUILT_IN_SERVICES, audioStage, thumbnailBlobNames } from '@livemesh/services';
import { defineFrameStage, runStage, type StageHandle } from '@livemesh/stage-sdk';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { cutTestSegments, stageInputs, type StageInput } from '../support/segments.js';

/** These tests are about each service's output, not latency: a budget no queue of fixtures on a busy machine reaches. */
const NOT_ABOUT_LATENCY_MS = 300_000;
import { waitFor } from '../support/wait.js';

interface Received {
  subject: string;
  headers: BusHeaders | undefined;
  data: Uint8Array;
}

const T = 60_000;

async function packetTimes(data: Uint8Array, kind: 'v' | 'a'): Promise<number[]> {
  const { stdout } = await runFfprobe(['-v', 'error', '-f', 'mpegts', '-select_streams', `${kind}:0`, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', '-i', 'pipe:0'], { input: data, timeoutMs: T });
  return stdout.toString().split('\n').map((l) => l.replace(/,$/, '')).filter(Boolean).map(Number).sort((a, b) => a - b);
}

async function maxVolumeDb(data: Uint8Array): Promise<number> {
  const { stderr } = await runFfmpeg(['-hide_banner', '-nostdin', '-loglevel', 'info', '-f', 'mpegts', '-i', 'pipe:0', '-map', '0:a:0', '-af', 'volumedetect', '-f', 'null', '-'], { input: data, timeoutMs: T });
  return Number(/max_volume: (-?[\d.]+|-inf) dB/.exec(stderr)?.[1] ?? NaN);
}

/** The first audio track decoded to mono 32-bit float at 48 kHz. */
async function decodeMono(data: Uint8Array): Promise<Float32Array> {
  const { stdout } = await runFfmpeg(['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-map', '0:a:0', '-ac', '1', '-ar', '48000', '-f', 'f32le', 'pipe:1'], { input: data, timeoutMs: T });
  return new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + stdout.byteLength));
}

/** Largest |output - input| in each 1024-sample block both cover; 0 for the first four (where both decoders start). */
function blockErrors(input: Float32Array, output: Float32Array): number[] {
  const out: number[] = [];
  for (let b = 0; (b + 1) * 1024 <= Math.min(input.length, output.length); b++) {
    let m = 0;
    for (let j = b * 1024; j < (b + 1) * 1024; j++) m = Math.max(m, Math.abs(output[j]! - input[j]!));
    out.push(b < 4 ? 0 : m);
  }
  return out;
}

describe('built-in services on real media', () => {
  let nats: NatsServer;
  let bus: Bus;
  let env: Env;
  let dir: string;
  let main: StageInput[];
  let chains: JsonStore<ChainSpec>;
  const handles: StageHandle[] = [];
  const received: Received[] = [];
  const events: StreamEvent[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-services-e2e-'));
    // 6 s of 320x240 at 25 fps + a 440 Hz tone (the segmenter moves its start to 0, as ingest does).
    main = await stageInputs(await cutTestSegments(dir, 6, T), 'main', T);
    expect(main).toHaveLength(3);

    nats = await startNatsServer();
    env = loadEnv({ NATS_URL: nats.url, MEDIA_TIMEOUT_MS: String(T), STAGE_MAX_ATTEMPTS: '2' });
    bus = await Bus.connect({ url: nats.url, name: 'services-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: 600 });
    chains = bus.store(BUCKETS.chains);
    for (const subject of [subjects.allOutput, subjects.allDeadLetter]) {
      const sub = bus.subscribe(subject);
      void (async () => {
        for await (const m of sub) received.push({ subject: m.subject, headers: m.headers, data: m.data });
      })();
    }
    const evt = bus.subscribe(subjects.streamEvents());
    void (async () => {
      for await (const m of evt) events.push(m.json<StreamEvent>());
    })();
    await bus.flush();
    for (const s of BUILT_IN_SERVICES) handles.push(await runStage(s.stage, { env, bus, ackWaitMs: 20_000 }));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** One-hop chain `service` for stream `id`, the inputs published to it, and the outputs once all are out. */
  async function runHop(id: string, service: string, params: Record<string, unknown>, inputs: StageInput[], renditions = ['main']): Promise<Map<string, Received>> {
    await chains.put(id, { streamId: id, version: 1, updatedAt: new Date().toISOString(), latencyBudgetMs: NOT_ABOUT_LATENCY_MS, hops: [{ index: 0, service, params, subject: subjects.segment(service, id, 0), next: null }] });
    for (const input of inputs) {
      await publishSegment(bus, subjects.segment(service, id, 0), { meta: { ...input.meta, streamId: id }, data: input.data }, { inlineLimit: env.INLINE_LIMIT_BYTES });
    }
    const key = (r: Received) => `${r.subject.split('.').pop()}#${r.headers?.get(SEGMENT_HEADERS.seq)}`;
    const want = inputs.flatMap((i) => renditions.map((r) => `${r}#${i.meta.seq}`));
    return waitFor(`${want.length} outputs of ${id}`, 90_000, () => {
      const dead = events.find((e) => e.streamId === id && e.kind === 'dead-letter');
      if (dead) throw new Error(`${id}: dead-lettered: ${dead.message}`);
      const mine = new Map(received.filter((r) => r.subject.startsWith(`lm.out.${id}.`)).map((r) => [key(r), r]));
      return want.every((k) => mine.has(k)) ? mine : undefined;
    });
  }

  it('transcode emits an ABR ladder: one rendition per rung, each at its size, on the source timeline', async () => {
    const renditions = [
      { name: 'r240', width: 320, height: 240, videoBitrateKbps: 400 },
      { name: 'r120', width: 160, height: 120, videoBitrateKbps: 150 },
    ];
    const out = await runHop('abr', 'transcode', { renditions }, main, ['r240', 'r120']);
    for (const input of main) {
      for (const r of renditions) {
        const seg = await readSegment(bus, out.get(`${r.name}#${input.meta.seq}`)!);
        expect(seg.meta).toMatchObject({ rendition: r.name, pts: input.meta.pts, transfer: { width: r.width, height: r.height } });
        const p = await probe(seg.data, { timeoutMs: T, format: 'mpegts' });
        expect(p.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: r.width, height: r.height });
        expect(p.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
        expect(streamStartSeconds(p, 'video')).toBeCloseTo(streamStartSeconds(input.probe, 'video')!, 3);
      }
    }
  }, 120_000);

  it('scale fits the picture inside a box keeping its shape; fps puts frames on a 10 fps grid without a gap between segments', async () => {
    const scaled = await runHop('scale1', 'scale', { width: 200, height: 200, keepAspect: true }, main.slice(0, 1));
    const sp = await probe((await readSegment(bus, scaled.get('main#0')!)).data, { timeoutMs: T, format: 'mpegts' });
    expect(sp.streams.find((s) => s.codec_type === 'video')).toMatchObject({ width: 200, height: 150 });

    const out = await runHop('fps1', 'fps', { fps: 10 }, main);
    const times = await Promise.all(main.map(async (i) => packetTimes((await readSegment(bus, out.get(`main#${i.meta.seq}`)!)).data, 'v')));
    for (const t of times) {
      expect(t.length).toBeGreaterThanOrEqual(19);
      expect(t.length).toBeLessThanOrEqual(21);
      for (let k = 1; k < t.length; k++) expect(t[k]! - t[k - 1]!).toBeCloseTo(0.1, 3);
    }
    for (let s = 1; s < times.length; s++) expect(times[s]![0]! - times[s - 1]!.at(-1)!).toBeCloseTo(0.1, 3);
  }, 120_000);

  it('audio re-encodes with its gain carried across segments, as one continuous track that starts 2 packets before each segment; mute silences', async () => {
    const out = await runHop('loud', 'audio', { targetLufs: -16 }, main);
    const inputTimes = await Promise.all(main.map((i) => packetTimes(i.data, 'a')));
    for (const [k, input] of main.entries()) {
      const seg = await readSegment(bus, out.get(`main#${input.meta.seq}`)!);
      // Each segment holds back its last two packets (their encoder windows reach past its end)
      // and the next one opens with them: the input's packets on their timestamps, shifted by two.
      const expected = [...(k > 0 ? inputTimes[k - 1]!.slice(-2) : []), ...inputTimes[k]!.slice(0, -2)];
      expect(await packetTimes(seg.data, 'a')).toEqual(expected);
      expect(await packetTimes(seg.data, 'v')).toEqual(await packetTimes(input.data, 'v'));
    }
    const gains = main.map((i) => Number(JSON.parse(out.get(`main#${i.meta.seq}`)!.headers!.get(SEGMENT_HEADERS.transfer)).audioGainDb));
    // The tone is about -21 LUFS: the gain climbs towards +5 dB step by step, starting from 0.
    expect(gains[0]).toBe(0);
    expect(gains[1]!).toBeGreaterThan(1);
    expect(gains[2]!).toBeGreaterThan(gains[1]!);
    expect(gains[2]!).toBeLessThan(6);

    const muted = await runHop('mute', 'audio', { mute: true, normalize: false }, main.slice(0, 1));
    expect(await maxVolumeDb((await readSegment(bus, muted.get('main#0')!)).data)).toBeLessThan(-80);
  }, 120_000);

  it('audio leaves no click at a segment join: the joined output follows the joined input as closely at the joins as anywhere', async () => {
    const out = await runHop('joins', 'audio', { normalize: false }, main);
    const joined = Buffer.concat(await Promise.all(main.map(async (i) => (await readSegment(bus, out.get(`main#${i.meta.seq}`)!)).data)));
    const input = await decodeMono(Buffer.concat(main.map((i) => i.data)));
    const output = await decodeMono(joined);
    // The first segment starts where the input does (nothing held before it), so sample k is sample k.
    const err = blockErrors(input, output);
    const audioStart = (i: StageInput) => streamStartSeconds(i.probe, 'audio')!;
    // Blocks around each input join and each output join (two packets earlier).
    const joins = main.slice(1).map((i) => Math.floor(((audioStart(i) - audioStart(main[0]!)) * 48_000) / 1024));
    const atJoins = joins.flatMap((b) => [b - 3, b - 2, b - 1, b, b + 1]).map((b) => err[b]!);
    const sorted = err.filter((e) => e > 0).sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    // A click is an error the size of the tone itself (0.1 and up, several hundred times the
    // median); what is left at a join is AAC's own error, within a few times the median.
    expect(median).toBeLessThan(0.01);
    expect(Math.max(...atJoins)).toBeLessThan(8 * median);
    expect(Math.max(...err)).toBeLessThan(8 * median);
  }, 120_000);

  it('two audio replicas share a stream and every join is still clean: what a segment leaves for the next is in NATS, not in one replica', async () => {
    const second = await runStage(audioStage, { env, bus, ackWaitMs: 20_000, heartbeatIntervalMs: 200 });
    handles.push(second);
    const out = await runHop('replicas', 'audio', { normalize: false }, main);
    const beats = bus.store(BUCKETS.workers);
    // Both replicas took part (the segments were published at once; each replica holds one at a time).
    const mine = await waitFor('the second replica\'s count', 10_000, async () => {
      const b = (await beats.get(`audio.${second.workerId}`))?.value;
      return b && b.processed > 0 ? b.processed : undefined;
    });
    expect(mine).toBeLessThan(main.length);
    const output = await decodeMono(Buffer.concat(await Promise.all(main.map(async (i) => (await readSegment(bus, out.get(`main#${i.meta.seq}`)!)).data))));
    const err = blockErrors(await decodeMono(Buffer.concat(main.map((i) => i.data))), output);
    const sorted = err.filter((e) => e > 0).sort((a, b) => a - b);
    expect(Math.max(...err)).toBeLessThan(8 * sorted[Math.floor(sorted.length / 2)]!);
  }, 120_000);

  it('thumbnail stores a JPEG every N seconds, announces it, and passes the segment through unchanged', async () => {
    const out = await runHop('thumbs', 'thumbnail', { everySeconds: 2, width: 160 }, main);
    for (const input of main) expect(Buffer.compare(Buffer.from(out.get(`main#${input.meta.seq}`)!.data), Buffer.from(input.data))).toBe(0);
    const thumbs = await waitFor('3 thumbnail events', 10_000, () => {
      const t = events.filter((e): e is StreamEventOf<'thumbnail'> => e.streamId === 'thumbs' && e.kind === 'thumbnail');
      return t.length >= 3 ? t : undefined;
    });
    // Whole seconds, every second one, each once although the frames come from three segments.
    const seconds = thumbs.map((e) => Number(e.data?.pts)).sort((a, b) => a - b);
    expect(seconds).toEqual(expect.arrayContaining([2, 4]));
    seconds.forEach((t, i) => {
      expect(t % 2).toBe(0);
      if (i > 0) expect(t - seconds[i - 1]!).toBe(2);
    });
    for (const e of thumbs) {
      const jpeg = await bus.getBlob(String(e.data?.blob));
      expect(jpeg?.subarray(0, 2)).toEqual(new Uint8Array([0xff, 0xd8]));
    }
    const latest = await bus.getBlob(thumbnailBlobNames.latest('thumbs'));
    const p = await runFfprobe(['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', '-i', 'pipe:0'], { input: latest!, timeoutMs: T });
    expect(JSON.parse(p.stdout.toString()).streams[0]).toMatchObject({ codec_name: 'mjpeg', width: 160, height: 120 });
  }, 120_000);

  it('detect reports black, frozen picture, silence and scene cuts as events, and passes the segment through', async () => {
    // 1 s black, 1 s moving test picture, 1 s still colour bars; a tone for 1 s, then silence.
    const clip = join(dir, 'detect.ts');
    await runFfmpeg([
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'color=black:size=320x240:rate=25:duration=1',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=1',
      '-f', 'lavfi', '-i', 'smptebars=size=320x240:rate=25:duration=1',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=1,apad=whole_dur=3',
      '-filter_complex', '[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]',
      '-map', '[v]', '-map', '3:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '75', '-c:a', 'aac', '-ac', '2',
      '-output_ts_offset', '20', '-muxdelay', '0', '-muxpreload', '0', '-f', 'mpegts', `file:${clip}`,
    ], { timeoutMs: T });
    const data = new Uint8Array(await readFile(clip));
    const input: StageInput = { meta: { streamId: 'det', seq: 0, hop: 0, rendition: 'main', pts: 20, duration: 3, ingestTime: Date.now(), epoch: 0, chainVersion: 1 }, data, probe: await probe(data, { timeoutMs: T, format: 'mpegts' }) };
    const out = await runHop('det', 'detect', { minSeconds: 0.5 }, [input]);
    expect(out.get('main#0')!.data.byteLength).toBe(data.byteLength);
    const found = await waitFor('black, freeze, silence and scene events', 10_000, () => {
      const d = events.filter((e) => e.streamId === 'det' && e.kind === 'detection').map((e) => e.data as { type: string; start?: number; end?: number });
      return ['black', 'freeze', 'silence', 'scene'].every((t) => d.some((x) => x.type === t)) ? d : undefined;
    });
    const black = found.find((d) => d.type === 'black')!;
    expect(black.start).toBeCloseTo(20, 1);
    expect(black.end).toBeCloseTo(21, 1);
    expect(found.find((d) => d.type === 'silence')!.start).toBeCloseTo(21, 0);
    expect(found.filter((d) => d.type === 'scene').map((d) => Math.round(d.start!))).toEqual(expect.arrayContaining([21, 22]));
    expect(found.some((d) => d.type === 'freeze' && Math.round(d.start ?? -1) === 22)).toBe(true);
  }, 120_000);

  it('watermark overlays a logo from the object store, named by the parameters, never read from a path they give', async () => {
    const { stdout: png } = await runFfmpeg(['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=red:size=64x64', '-frames:v', '1', '-c:v', 'png', '-f', 'image2pipe', 'pipe:1'], { timeoutMs: T });
    await bus.putBlob('watermark/logo', new Uint8Array(png));
    const out = await runHop('logo', 'watermark', { image: 'logo', imageWidth: 64, opacity: 1, position: 'top-left' }, main.slice(0, 1));
    const seg = await readSegment(bus, out.get('main#0')!);
    // The 64x64 logo sits 10 px from the top-left corner: its middle is red.
    const { stdout: px } = await runFfmpeg(['-hide_banner', '-loglevel', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-frames:v', '1', '-vf', 'crop=2:2:42:42', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { input: seg.data, timeoutMs: T });
    expect(px[0]).toBeGreaterThan(200);
    expect(px[1]).toBeLessThan(60);
    expect(px[2]).toBeLessThan(60);
    expect(streamStartSeconds(await probe(seg.data, { timeoutMs: T, format: 'mpegts' }), 'video')).toBeCloseTo(streamStartSeconds(main[0]!.probe, 'video')!, 3);

    // A name nobody provided is a clear, permanent error.
    await chains.put('logo2', { streamId: 'logo2', version: 1, updatedAt: new Date().toISOString(), latencyBudgetMs: NOT_ABOUT_LATENCY_MS, hops: [{ index: 0, service: 'watermark', params: { image: 'nope' }, subject: subjects.segment('watermark', 'logo2', 0), next: null }] });
    await publishSegment(bus, subjects.segment('watermark', 'logo2', 0), { meta: { ...main[0]!.meta, streamId: 'logo2' }, data: main[0]!.data }, { inlineLimit: env.INLINE_LIMIT_BYTES });
    const dead = await waitFor('a dead-letter event', 30_000, () => events.find((e) => e.streamId === 'logo2' && e.kind === 'dead-letter'));
    expect(dead.message).toMatch(/watermark image "nope" is not provided/);

    // A "logo" that is a playlist naming a local file is never opened as one: images only, demuxer forced.
    await bus.putBlob('watermark/playlist', new TextEncoder().encode(`#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile://${dir}/secret.ts\n#EXT-X-ENDLIST\n`));
    await chains.put('logo3', { streamId: 'logo3', version: 1, updatedAt: new Date().toISOString(), latencyBudgetMs: NOT_ABOUT_LATENCY_MS, hops: [{ index: 0, service: 'watermark', params: { image: 'playlist' }, subject: subjects.segment('watermark', 'logo3', 0), next: null }] });
    await publishSegment(bus, subjects.segment('watermark', 'logo3', 0), { meta: { ...main[0]!.meta, streamId: 'logo3' }, data: main[0]!.data }, { inlineLimit: env.INLINE_LIMIT_BYTES });
    const refused = await waitFor('a dead-letter event', 30_000, () => events.find((e) => e.streamId === 'logo3' && e.kind === 'dead-letter'));
    expect(refused.message).toMatch(/watermark image "playlist" is not a PNG, JPEG, WebP, GIF or BMP image/);
  }, 90_000);

  it('a frame stage that returns pictures gets its segment re-encoded from them, every frame on its own timestamp', async () => {
    // Inverts the picture: what comes out must be the negative of what went in.
    const invert = defineFrameStage({
      name: 'invert',
      sample: { format: 'gray' },
      onFrame: (frame) => frame.data.map((v) => 255 - v),
    });
    const h = await runStage(invert, { env, bus, ackWaitMs: 20_000 });
    try {
      const out = await runHop('inv', 'invert', {}, main.slice(0, 1));
      const seg = await readSegment(bus, out.get('main#0')!);
      expect(await packetTimes(seg.data, 'v')).toEqual(await packetTimes(main[0]!.data, 'v'));
      expect(await packetTimes(seg.data, 'a')).toEqual(await packetTimes(main[0]!.data, 'a'));
      const grey = async (d: Uint8Array) => (await runFfmpeg(['-hide_banner', '-loglevel', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-frames:v', '1', '-vf', 'scale=8:8', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { input: d, timeoutMs: T })).stdout;
      const [a, b] = [await grey(main[0]!.data), await grey(seg.data)];
      const err = [...a].reduce((sum, v, i) => sum + Math.abs(255 - v - b[i]!), 0) / a.length;
      expect(err).toBeLessThan(12);
    } finally {
      await h.stop();
    }
  }, 90_000);

  it('a frame stage hands on what it measured as a declared transfer parameter, and an undeclared one fails the segment', async () => {
    // The mean brightness of the first frame, as the next hop would read it from Lm-Transfer.
    let mean = -1;
    const measure = (emit: string) => defineFrameStage({
      name: 'brightness',
      sample: { format: 'gray', width: 32 },
      transfer: { emits: { meanLuma: { type: 'number', minimum: 0, maximum: 255 } } },
      onFrame: (frame) => {
        if (frame.index === 0) mean = frame.data.reduce((a, v) => a + v, 0) / frame.data.length;
      },
      onSegmentEnd: () => ({ transfer: { [emit]: Math.round(mean) } }),
    });
    const h = await runStage(measure('meanLuma'), { env, bus, ackWaitMs: 20_000 });
    try {
      const out = await runHop('luma', 'brightness', {}, main.slice(0, 1));
      const seg = await readSegment(bus, out.get('main#0')!);
      expect(mean).toBeGreaterThan(0);
      expect(seg.meta.transfer).toEqual({ meanLuma: Math.round(mean) });
      // The segment itself goes on unchanged.
      expect(seg.data).toEqual(main[0]!.data);
    } finally {
      await h.stop();
    }
    const bad = await runStage(measure('luma'), { env, bus, ackWaitMs: 20_000 });
    try {
      await chains.put('luma2', { streamId: 'luma2', version: 1, updatedAt: new Date().toISOString(), latencyBudgetMs: NOT_ABOUT_LATENCY_MS, hops: [{ index: 0, service: 'brightness', params: {}, subject: subjects.segment('brightness', 'luma2', 0), next: null }] });
      await publishSegment(bus, subjects.segment('brightness', 'luma2', 0), { meta: { ...main[0]!.meta, streamId: 'luma2' }, data: main[0]!.data }, { inlineLimit: env.INLINE_LIMIT_BYTES });
      const failed = await waitFor('the undeclared transfer to fail the segment', 30_000, () => events.find((e) => e.streamId === 'luma2' && (e.kind === 'segment-failed' || e.kind === 'dead-letter')));
      expect(failed.message).toMatch(/luma/);
    } finally {
      await bad.stop();
    }
  }, 90_000);

  describe('bad input', () => {
    const good = () => main[0]!;
    const mp4 = async () => {
      const f = join(dir, 'clip.mp4');
      await runFfmpeg(testSourceArgs({ width: 160, height: 120, fps: 25, durationSec: 1, output: { file: f }, realtime: false, format: 'mp4' }), { timeoutMs: T });
      return new Uint8Array(await readFile(f));
    };
    const png = async () => {
      const { stdout } = await runFfmpeg(['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=red:size=64x64', '-frames:v', '1', '-c:v', 'png', '-f', 'image2pipe', 'pipe:1'], { timeoutMs: T });
      return new Uint8Array(stdout);
    };
    /** An 8192x8192 H.264 picture: real, decodable, and above the 7680x4320 limit. */
    const huge = async () => {
      const { stdout } = await runFfmpeg(['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=black:size=8192x8192:rate=1:duration=1', '-frames:v', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-muxdelay', '0', '-muxpreload', '0', '-f', 'mpegts', 'pipe:1'], { timeoutMs: T });
      return new Uint8Array(stdout);
    };
    /** A 16383x16383 picture in its header (MPEG-2's largest), forged into a small real stream. */
    const forged16k = async () => {
      const { stdout } = await runFfmpeg(['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=1', '-c:v', 'mpeg2video', '-f', 'mpegts', 'pipe:1'], { timeoutMs: T });
      const b = new Uint8Array(stdout);
      for (let i = 0; i + 7 < b.length; i++) {
        if (b[i] !== 0 || b[i + 1] !== 0 || b[i + 2] !== 1) continue;
        // sequence header: 12-bit width and height -> 0xFFF each.
        if (b[i + 3] === 0xb3) b.set([0xff, 0xff, 0xff], i + 4);
        // sequence extension: 2-bit size extensions -> 0b11 each (14-bit sizes: 16383).
        if (b[i + 3] === 0xb5 && b[i + 4]! >> 4 === 1) {
          b[i + 5]! |= 0x01;
          b[i + 6]! |= 0xe0;
        }
      }
      return b;
    };

    it.each([
      ['an empty segment', async () => new Uint8Array(0), /empty|no payload|0 bytes/i],
      ['a segment cut off mid-packet', async () => good().data.subarray(0, 188 * 40 + 100), /truncated.*188-byte/],
      ['a segment that lost its second half', async () => good().data.subarray(0, 188 * Math.floor(good().data.length / 188 / 4)), /truncated: it holds .* s of media but its header says 2/],
      ['an MP4 file', mp4, /not MPEG-TS.*MP4/],
      ['a PNG image', png, /not MPEG-TS.*PNG/],
      ['random bytes that start like MPEG-TS', async () => Uint8Array.from({ length: 188 * 50 }, (_, i) => (i % 188 === 0 ? 0x47 : (i * 7919) % 251)), /unusable input|no streams|invalid data/i],
      ['an 8192x8192 picture', huge, /8192x8192, above the 7680x4320 limit/],
      ['a forged 16383x16383 picture', forged16k, /no usable dimensions|above the .* limit/],
    ])('dead-letters %s with a clear error and goes on', async (what, make, why) => {
      const id = `bad-${what.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`;
      const bytes = await make();
      await chains.put(id, { streamId: id, version: 1, updatedAt: new Date().toISOString(), latencyBudgetMs: NOT_ABOUT_LATENCY_MS, hops: [{ index: 0, service: 'scale', params: { width: 160, height: 120 }, subject: subjects.segment('scale', id, 0), next: null }] });
      const seg = (seq: number, data: Uint8Array) => publishSegment(bus, subjects.segment('scale', id, 0), { meta: { ...good().meta, streamId: id, seq }, data }, { inlineLimit: env.INLINE_LIMIT_BYTES });
      await seg(0, bytes);
      await seg(1, good().data);
      const dead = await waitFor(`a dead-letter event for ${what}`, 60_000, () => events.find((e) => e.streamId === id && (e.kind === 'dead-letter' || e.kind === 'segment-failed')));
      expect(dead).toMatchObject({ seq: 0, service: 'scale' });
      expect(dead.message).toMatch(why);
      // Bad bytes are never retried: either kind says the first delivery was the last.
      expect(dead.data).toMatchObject({ attempts: 1 });
      await waitFor('the segment on the dead-letter subject', 10_000, () => received.find((r) => r.subject === subjects.deadLetter('scale', id)));
      await waitFor('the next good segment on the output', 60_000, () => received.find((r) => r.subject === subjects.output(id, 'main') && r.headers?.get(SEGMENT_HEADERS.seq) === '1'));
    }, 90_000);

    it('dead-letters a message that is not a segment of this stream at once, as segment-failed', async () => {
      const id = 'bad-headers';
      await chains.put(id, { streamId: id, version: 1, updatedAt: new Date().toISOString(), latencyBudgetMs: NOT_ABOUT_LATENCY_MS, hops: [{ index: 0, service: 'scale', params: { width: 160, height: 120 }, subject: subjects.segment('scale', id, 0), next: null }] });
      // Headers naming another stream than the subject: a routing fault, never worth a retry.
      await publishSegment(bus, subjects.segment('scale', id, 0), { meta: { ...good().meta, streamId: 'someone-else', seq: 0 }, data: good().data }, { inlineLimit: env.INLINE_LIMIT_BYTES });
      const failed = await waitFor('a segment-failed event', 30_000, () => events.find((e) => e.streamId === id && (e.kind === 'segment-failed' || e.kind === 'dead-letter')));
      expect(failed).toMatchObject({ kind: 'segment-failed', service: 'scale', hop: 0, data: { code: 'LM_BAD_SEGMENT', attempts: 1 } });
      expect(failed.message).toMatch(/headers say stream someone-else/);
      await waitFor('the message on the dead-letter subject', 10_000, () => received.find((r) => r.subject === subjects.deadLetter('scale', id)));
    }, 60_000);

    it('dead-letters parameters that slipped past the orchestrator, before any ffmpeg runs', async () => {
      const id = 'bad-params';
      const hostile = { text: 'x', fontSize: '12:drawbox=c=red', color: "white'[out]", image: '../../../etc/passwd' };
      await chains.put(id, { streamId: id, version: 1, updatedAt: new Date().toISOString(), latencyBudgetMs: NOT_ABOUT_LATENCY_MS, hops: [{ index: 0, service: 'watermark', params: hostile, subject: subjects.segment('watermark', id, 0), next: null }] });
      await publishSegment(bus, subjects.segment('watermark', id, 0), { meta: { ...good().meta, streamId: id }, data: good().data }, { inlineLimit: env.INLINE_LIMIT_BYTES });
      const dead = await waitFor('a dead-letter event', 30_000, () => events.find((e) => e.streamId === id && e.kind === 'dead-letter'));
      expect(dead.data).toMatchObject({ code: 'LM_VALIDATION', attempts: 1 });
      expect(dead.message).toMatch(/fontSize.*integer/);
      expect(dead.message).toMatch(/color.*pattern/);
      expect(dead.message).toMatch(/image.*pattern/);
    }, 60_000);
  });
});
