// Real ffmpeg: the timeline survives a stage, hostile text cannot reach the graph, ingest cuts.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSegmentListLine, segmentStageArgs, segmenterArgs, testSourceArgs } from './args.builder.js';
import { runFfmpeg, runFfprobe } from './ffmpeg.runner.js';
import { drawtextFilter, scaleFilter } from './filter.builder.js';

let dir: string;
beforeAll(async () => {
  // A directory name built to break a naive filter graph.
  dir = await mkdtemp(join(tmpdir(), "lm-media-it's:a,b;[out]\\ %{pts}="));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

interface PacketView {
  codec_type: string;
  start_pts: number;
  nb_read_packets: string;
}

async function streamsOf(input: Uint8Array): Promise<Record<string, PacketView>> {
  const { stdout } = await runFfprobe(['-v', 'error', '-f', 'mpegts', '-count_packets', '-show_entries', 'stream=codec_type,start_pts,nb_read_packets', '-of', 'json', '-i', 'pipe:0'], { input, timeoutMs: 10_000 });
  const streams = (JSON.parse(stdout.toString()) as { streams: PacketView[] }).streams;
  return Object.fromEntries(streams.map((s) => [s.codec_type, s]));
}

async function firstVideoPacketFlags(input: Uint8Array): Promise<string> {
  const { stdout } = await runFfprobe(['-v', 'error', '-f', 'mpegts', '-select_streams', 'v:0', '-read_intervals', '%+#1', '-show_entries', 'packet=flags', '-of', 'csv=p=0', '-i', 'pipe:0'], { input, timeoutMs: 10_000 });
  return stdout.toString().trim();
}

describe('segmentStageArgs on a real segment', () => {
  it.each([
    ['the middle of a stream', 10],
    ['the start of a stream', 0],
    // RTMP timestamps are milliseconds, so a segment can start off the frame grid.
    ['a start off the frame grid', 2.021333],
  ])('keeps the video and audio start PTS and packet count of a segment from %s', async (_what, startSeconds) => {
    const src = (await runFfmpeg(testSourceArgs({ width: 320, height: 240, fps: 25, durationSec: 2, output: 'pipe', realtime: false, format: 'mpegts', startSeconds }), { timeoutMs: 20_000 })).stdout;
    const textFile = join(dir, 'text.txt');
    await writeFile(textFile, 'hop');
    const args = segmentStageArgs({
      videoFilter: `${scaleFilter({ width: 320, height: 240, keepAspect: true })},${drawtextFilter({ textFile, fontSize: 20, color: 'white', opacity: 1, position: 'top-left' })}`,
      video: { preset: 'ultrafast', crf: 28 },
      audio: 'copy',
    });
    const out = (await runFfmpeg(args, { input: src, timeoutMs: 20_000, expectOutput: true })).stdout;
    const [a, b] = await Promise.all([streamsOf(src), streamsOf(out)]);
    expect(b.video?.start_pts).toBe(a.video?.start_pts);
    expect(b.audio?.start_pts).toBe(a.audio?.start_pts);
    expect(b.video?.nb_read_packets).toBe(a.video?.nb_read_packets);
    expect(b.audio?.nb_read_packets).toBe(a.audio?.nb_read_packets);
    expect(await firstVideoPacketFlags(out)).toMatch(/^K/);
  }, 30_000);
});

describe('drawtext with hostile text', () => {
  const HOSTILE = "%{pts} %{n} %{eif:n:d} it's: a,b; [out] \\ %{localtime}";
  const frames = async (filter: string) => {
    const { stdout } = await runFfmpeg(['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=black:size=160x120:rate=5', '-t', '1', '-vf', filter, '-f', 'framemd5', 'pipe:1'], { timeoutMs: 10_000 });
    return stdout.toString().split('\n').filter((l) => /^\d/.test(l)).map((l) => l.split(',').pop()?.trim());
  };

  it('renders the text literally: every frame identical, and not blank', async () => {
    const textFile = join(dir, 'hostile.txt');
    await writeFile(textFile, HOSTILE);
    const filter = drawtextFilter({ textFile, fontSize: 12, color: '#FFFFFF', opacity: 1, position: 'center', boxed: true });
    const drawn = await frames(filter);
    const blank = await frames('null');
    expect(drawn).toHaveLength(5);
    expect(new Set(drawn).size).toBe(1);
    expect(drawn[0]).not.toBe(blank[0]);
    // Control: with expansion on, %{pts} and %{n} change every frame, so the check above would fail.
    const expanded = await frames(filter.replace('expansion=none', 'expansion=normal'));
    expect(new Set(expanded).size).toBeGreaterThan(1);
  }, 20_000);
});

describe('segmenterArgs on a real source', () => {
  it('cuts on key frames and announces each segment with its times', async () => {
    const source = join(dir, 'source.flv');
    await runFfmpeg(testSourceArgs({ width: 320, height: 240, fps: 25, durationSec: 4, output: { file: source }, realtime: false, format: 'flv', startSeconds: 30 }), { timeoutMs: 20_000 });
    // The segment muxer expands `%` in its pattern, so segments go to a plain directory.
    const outDir = await mkdtemp(join(tmpdir(), 'lm-media-segs-'));
    const { stdout } = await runFfmpeg(segmenterArgs({ input: { file: source }, segmentSeconds: 2, outputPattern: join(outDir, 'seg_%06d.ts'), listTarget: 'pipe:1' }), { timeoutMs: 20_000 });
    const entries = stdout.toString().split('\n').filter(Boolean).map(parseSegmentListLine);
    expect(entries).toHaveLength(2);
    expect(entries.map((e) => e?.file)).toEqual(await readdir(outDir));
    expect(entries[0]?.start).toBe(0);
    // A key frame every 2 s, on a timeline that starts near 0 (not at the source's 30 s) and is
    // moved up once by the B-frame delay (two frames here) so that no DTS is negative.
    expect(entries[1]?.start).toBe(entries[0]?.end);
    expect(entries[1]!.start).toBeGreaterThanOrEqual(2);
    expect(entries[1]!.start).toBeLessThanOrEqual(2.2);
    expect(entries[1]!.end - entries[1]!.start).toBeCloseTo(2, 1);
    await rm(outDir, { recursive: true, force: true });
  }, 30_000);
});
