// Pulling a stream from a URL named in the start request, end to end: real ffmpeg sources serving
// RTMP (`-listen 1`), SRT (listener) and HLS over HTTP (an ffmpeg-made HLS folder behind a small
// HTTP server), all on 127.0.0.1; ingest pulls each, cuts it into segments, and delivery's HLS of
// each must be continuous (ffprobe on every segment).
import { createServer, type Server } from 'node:http';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runFfmpeg } from '@livemesh/media';
import { assertContinuous, generateClip, probeHls } from '../support/media.js';
import { freePort } from '../support/free-port.js';
import { waitFor } from '../support/wait.js';
import { ffmpeg, splitAtDiscontinuities, startHarness, type Ffmpeg, type Harness } from './ingest-delivery.harness.js';

const SIZE = { width: 320, height: 240 };

/** Serves the files of `dir` (flat, names only) over HTTP on 127.0.0.1. */
async function serveFolder(dir: string): Promise<{ url: string; close(): void }> {
  const port = await freePort();
  const server: Server = createServer((req, res) => {
    const name = (req.url ?? '').split('?')[0]!.replace(/^\//, '');
    if (!/^[\w.-]+$/.test(name)) return void res.writeHead(404).end();
    readFile(join(dir, name)).then(
      (body) => res.writeHead(200, { 'content-type': name.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

describe('ingest: pull from a URL', () => {
  let h: Harness;
  let flv: string;
  let ts: string;
  const sources: Ffmpeg[] = [];
  let http: { url: string; close(): void };

  beforeAll(async () => {
    h = await startHarness();
    flv = await generateClip({ seconds: 8, width: 320, height: 240, fps: 25, keyframeSeconds: 1, out: join(h.dir, 'clip.flv') });
    ts = join(h.dir, 'clip.ts');
    await runFfmpeg(['-loglevel', 'error', '-y', '-i', flv, '-c', 'copy', '-f', 'mpegts', ts], { timeoutMs: 120_000 });
    const hlsDir = join(h.dir, 'hls');
    await mkdir(hlsDir, { recursive: true });
    await runFfmpeg(['-loglevel', 'error', '-y', '-i', flv, '-c', 'copy', '-f', 'hls', '-hls_time', '2', '-hls_list_size', '0', '-hls_playlist_type', 'vod', '-hls_segment_filename', join(hlsDir, 's%d.ts'), join(hlsDir, 'index.m3u8')], { timeoutMs: 120_000 });
    http = await serveFolder(hlsDir);
  });

  afterAll(async () => {
    for (const s of sources) s.kill();
    http?.close();
    await h?.stop();
  });

  /** Waits for `n` listed segments, ends the stream, and checks what was pulled before the source ended. */
  async function expectContinuous(id: string, n: number): Promise<void> {
    await waitFor(`${id}: ${n} segments listed`, 40_000, async () => {
      const text = await (await fetch(h.hls(id))).text();
      return (text.match(/^#EXTINF/gm) ?? []).length >= n;
    }, { retryErrors: true, detail: () => h.logs.text().split('\n').filter((l) => l.includes(id)).slice(-10).join('\n') });
    const hls = await probeHls(h.hls(id));
    // A source that ended is pulled again while the stream is live; only its first pass matters here.
    const first = splitAtDiscontinuities(hls)[0]!;
    expect(first.segments.length).toBeGreaterThanOrEqual(n);
    assertContinuous(first, { size: SIZE, audio: true });
  }

  it('pulls RTMP, SRT and HLS-over-HTTP sources into continuous HLS', async () => {
    const [rtmpPort, srtPort] = [await freePort(), await freePort()];
    // Each source waits for ingest to connect, then sends in real time, as a live source does.
    sources.push(ffmpeg(['-re', '-i', flv, '-c', 'copy', '-f', 'flv', '-listen', '1', `rtmp://127.0.0.1:${rtmpPort}/live/src`], 60_000));
    sources.push(ffmpeg(['-re', '-i', ts, '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${srtPort}?mode=listener`], 60_000));
    // By name: ingest checks what it resolves to and hands ffmpeg that address, the name only in tcUrl.
    await h.addStream('pull-rtmp', { source: `rtmp://localhost:${rtmpPort}/live/src` });
    await h.addStream('pull-srt', { source: `srt://127.0.0.1:${srtPort}` });
    await h.addStream('pull-hls', { source: `${http.url}/index.m3u8` });
    await Promise.all([expectContinuous('pull-rtmp', 3), expectContinuous('pull-srt', 3), expectContinuous('pull-hls', 3)]);
    expect(h.logs.text()).toMatch(/stream pull-hls: pulling http:\/\/127\.0\.0\.1:\d+\/index\.m3u8/);
    expect(h.logs.text()).toContain(`-rtmp_tcurl rtmp://localhost:${rtmpPort}/live -i rtmp://127.0.0.1:${rtmpPort}/live/src`);
    expect(h.logs.text()).toMatch(new RegExp(`-http_proxy http://127\\.0\\.0\\.1:\\d+ -i ${http.url.replaceAll('.', '\\.')}/index\\.m3u8`));
    expect(h.logs.text()).toMatch(/egress: GET http:\/\/127\.0\.0\.1:\d+\/s0\.ts via 127\.0\.0\.1/);
  });

  it('refuses a pull URL that names a local file, and says why', async () => {
    const before = await h.lastEventSeq('pull-bad', 'failed');
    await h.addStream('pull-bad', { source: 'file:///etc/passwd' });
    const { event } = await h.eventAfter('pull-bad', 'failed', before, 10_000);
    expect(event.message).toMatch(/source URL refused: source URL scheme "file:" is not allowed/);
    expect(event.data).toMatchObject({ code: 'LM_SOURCE_URL' });
  });

  it('refuses a pull whose host is not a public address nor in LIVEMESH_ALLOW_PRIVATE_SOURCES, even from a record written straight into KV', async () => {
    // The harness allows loopback only; 0.0.0.0 (which Linux would connect to locally) is outside it.
    const before = await h.lastEventSeq('pull-private', 'failed');
    await h.addStream('pull-private', { source: 'rtmp://0x0.0:1/live/x' });
    const { event } = await h.eventAfter('pull-private', 'failed', before, 10_000);
    expect(event.message).toMatch(/source URL refused: source URL host 0x0\.0 leads to 0\.0\.0\.0 is an unspecified \("this network"\) address/);
    expect(event.data).toMatchObject({ code: 'LM_PRIVATE_ADDRESS' });
    expect(h.logs.text()).not.toMatch(/stream pull-private: pulling/);
  });
});
