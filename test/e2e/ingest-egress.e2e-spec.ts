// Redirects and HLS playlist entries are held to the outbound address rule, end to end: ingest's
// ffmpeg pulls an HLS source from a server on 127.0.0.1 through ingest's egress proxy, with only
// 127.0.0.1/32 allowed. 127.0.0.2 and ::1 stand for every address outbound traffic may not reach
// (metadata, private, loopback services): a playlist entry naming one, and a redirect to one, are
// refused by the proxy (a log line names host, address and why), and a listener on 127.0.0.2
// receives no connection. The test process sets no_proxy=* as an operator's environment might:
// ffmpeg must still go through the proxy. No traffic leaves loopback.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runFfmpeg } from '@livemesh/media';
import { generateClip } from '../support/media.js';
import { freePort } from '../support/free-port.js';
import { waitFor } from '../support/wait.js';
import { startHarness, type Harness } from './ingest-delivery.harness.js';

describe('ingest: redirects and playlist entries go through the egress proxy', () => {
  let h: Harness;
  let port: number;
  let origin: Server;
  const served: string[] = [];
  const trapped: string[] = [];
  let trap: ReturnType<typeof createTcpServer>;
  const noProxy = process.env.no_proxy;

  beforeAll(async () => {
    process.env.no_proxy = '*';
    h = await startHarness({ LIVEMESH_ALLOW_PRIVATE_SOURCES: '127.0.0.1/32' });
    const dir = join(h.dir, 'hls');
    await mkdir(dir, { recursive: true });
    const flv = await generateClip({ seconds: 6, width: 160, height: 120, fps: 25, keyframeSeconds: 1, out: join(h.dir, 'clip.flv') });
    await runFfmpeg(['-loglevel', 'error', '-y', '-i', flv, '-c', 'copy', '-f', 'hls', '-hls_time', '2', '-hls_list_size', '0', '-hls_playlist_type', 'vod', '-hls_segment_filename', join(dir, 's%d.ts'), join(dir, 'index.m3u8')], { timeoutMs: 60_000 });
    port = await freePort();
    const playlist = await readFile(join(dir, 'index.m3u8'), 'utf8');
    origin = createHttpServer((req, res) => {
      const path = req.url ?? '';
      served.push(path);
      if (path === '/redirect.m3u8') return void res.writeHead(302, { location: `http://127.0.0.2:${port}/index.m3u8` }).end();
      // The first segment from here, the second from an address outside the allowed range, the third from ::1.
      if (path === '/mixed.m3u8') {
        const body = playlist.replace(/^s1\.ts$/m, `http://127.0.0.2:${port}/s1.ts`).replace(/^s2\.ts$/m, `http://[::1]:${port}/s2.ts`);
        return void res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(body);
      }
      readFile(join(dir, path.replace(/^\//, '').replace(/[^\w.]/g, ''))).then(
        (b) => res.writeHead(200).end(b),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((r) => origin.listen(port, '127.0.0.1', r));
    // Same port on 127.0.0.2: a connection here is one the rule forbids.
    trap = createTcpServer((s) => {
      trapped.push(`${s.remoteAddress}`);
      s.destroy();
    });
    await new Promise<void>((r) => trap.listen(port, '127.0.0.2', r));
  });

  afterAll(async () => {
    if (noProxy === undefined) delete process.env.no_proxy;
    else process.env.no_proxy = noProxy;
    await h?.stop();
    origin?.close();
    trap?.close();
  });

  const lines = (re: RegExp) => h.logs.text().split('\n').filter((l) => re.test(l));

  it('refuses a playlist entry on a refused address, and pulls the allowed one', async () => {
    await h.addStream('egress-mixed', { source: `http://127.0.0.1:${port}/mixed.m3u8` });
    await waitFor('both refusals logged', 20_000, async () => lines(/egress refused: GET http:\/\/127\.0\.0\.2:\d+\/s1\.ts/).length > 0 && lines(/egress refused: GET http:\/\/\[::1\]:\d+\/s2\.ts/).length > 0, {
      detail: () => h.logs.text().split('\n').filter((l) => /egress|egress-mixed/i.test(l)).slice(-10).join('\n'),
    });
    await h.endStream('egress-mixed');
    const refused = lines(/egress refused/);
    expect(refused).toContainEqual(expect.stringMatching(new RegExp(`egress refused: GET http://127\\.0\\.0\\.2:${port}/s1\\.ts: proxied host 127\\.0\\.0\\.2 leads to 127\\.0\\.0\\.2 is a loopback address`)));
    expect(refused).toContainEqual(expect.stringMatching(new RegExp(`egress refused: GET http://\\[::1\\]:${port}/s2\\.ts: proxied host ::1 leads to 0:0:0:0:0:0:0:1 is a loopback address`)));
    // The allowed entries went through the proxy to the origin.
    expect(served).toEqual(expect.arrayContaining(['/mixed.m3u8', '/s0.ts']));
    expect(trapped).toEqual([]);
  });

  it('refuses a redirect to a refused address', async () => {
    await h.addStream('egress-redirect', { source: `http://127.0.0.1:${port}/redirect.m3u8` });
    await waitFor('redirect refusal logged', 20_000, async () => lines(/egress refused: GET http:\/\/127\.0\.0\.2:\d+\/index\.m3u8: proxied host 127\.0\.0\.2 leads to 127\.0\.0\.2 is a loopback address/).length >= 1);
    await h.endStream('egress-redirect');
    expect(served).toContain('/redirect.m3u8');
    expect(served.filter((p) => p === '/index.m3u8')).toEqual([]);
    expect(trapped).toEqual([]);
  });
});
