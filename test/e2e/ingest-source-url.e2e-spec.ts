// The source and push-out URL policy at the door: POST /api/streams with a source URL that would
// make ffmpeg read a local file (file:, concat:, subfile:, a bare path) or an RTMP output that
// would make it write one is refused with 422 and the reason, before anything is written to KV or
// announced. The stream view shows what ingest and delivery report in lm_status (the SRT publish
// URL, ingest-to-playlist latency). Real nats-server and orchestrator; only the container runtime is
// a stand-in (our own interface, at the edge), since no stage runs here.
import type { INestApplication } from '@nestjs/common';
import { Bus } from '@livemesh/bus';
import { BUCKETS, STREAMS, loadEnv, statusKey, type ServiceSpec, type StreamView } from '@livemesh/contracts';
import type { ContainerRuntime, ServiceInstance, StartInstruction } from '@livemesh/runtime';
import { createOrchestratorApp } from '../../apps/orchestrator/src/orchestrator.app.js';
import { freePort } from '../support/free-port.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { ADMIN_TOKEN_ENV, authFetch } from '../support/auth.js';

class StandInRuntime implements ContainerRuntime {
  readonly kind = 'process' as const;
  async ensure(instr: StartInstruction) {
    const instance: ServiceInstance = { id: `stand-in-${instr.service.name}`, service: instr.service.name, state: 'running', startedAt: new Date().toISOString() };
    return { instance, reused: false };
  }
  async scale(_service: ServiceSpec, _replicas: number): Promise<ServiceInstance[]> {
    return [];
  }
  async list(): Promise<ServiceInstance[]> {
    return [];
  }
  async release(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('stream start: source and output URL policy', () => {
  let nats: NatsServer;
  let bus: Bus;
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    const port = await freePort();
    // Only 127.0.0.1 is allowed: other loopback addresses stand for every address outbound traffic
    // may not reach (private, link-local, metadata), and no test sends anything beyond loopback.
    const env = loadEnv({ NATS_URL: nats.url, HTTP_PORT: String(port), LIVEMESH_PUBLIC_HOST: 'media.example', LIVEMESH_ALLOW_PRIVATE_SOURCES: '127.0.0.1/32', ...ADMIN_TOKEN_ENV });
    app = await createOrchestratorApp(env, { runtime: new StandInRuntime(), logger: ['error'] });
    await app.startAllMicroservices();
    await app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    bus = await Bus.connect({ url: nats.url, name: 'source-url-e2e' });
  });

  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await nats?.stop();
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function post(body: unknown): Promise<{ status: number; body: any }> {
    const res = await authFetch(`${base}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  }

  const eventCount = async () => (await bus.streamInfo(STREAMS.events)).messages;

  it.each([
    ['file:///etc/passwd', /source URL scheme "file:" is not allowed/],
    ['concat:/etc/passwd|/etc/hosts', /source URL scheme "concat:" is not allowed/],
    ['subfile,,start,0,end,100,,:/etc/passwd', /source URL (has no scheme|scheme "subfile,,start,0,end,100,,:)/],
    ['/etc/passwd', /source URL has no scheme: a local path is not allowed/],
    ['gopher://127.0.0.1/x', /source URL scheme "gopher:" is not allowed/],
  ])('refuses source %s with 422, the reason, and no state written', async (url, why) => {
    const events = await eventCount();
    const r = await post({ id: 'bad-src', source: { url } });
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ statusCode: 422, code: 'LM_SOURCE_URL' });
    expect(r.body.message).toMatch(why);
    expect(await bus.store(BUCKETS.streams).get('bad-src')).toBeUndefined();
    expect(await bus.store(BUCKETS.chains).get('bad-src')).toBeUndefined();
    expect(await bus.store(BUCKETS.keys).keys()).toEqual([]);
    expect(await eventCount()).toBe(events);
  });

  it('refuses an RTMP output that is a local file', async () => {
    const r = await post({ id: 'bad-out', outputs: { rtmp: ['rtmp://127.0.0.1:1/live/k', 'file:///tmp/x.flv'] } });
    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(/RTMP output URL scheme "file:" is not allowed/);
    expect(await bus.store(BUCKETS.streams).get('bad-out')).toBeUndefined();
  });

  it.each([
    ['rtmp://127.0.0.2:1/live/x', /source URL host 127\.0\.0\.2 leads to 127\.0\.0\.2 is a loopback address/],
    ['rtmp://2130706434:1/live/x', /127\.0\.0\.2 is a loopback address/],
    ['rtmp://0x7f.2:1/live/x', /127\.0\.0\.2 is a loopback address/],
    ['http://0177.0.0.2:1/x.m3u8', /127\.0\.0\.2 is a loopback address/],
    ['srt://[::ffff:127.0.0.2]:1', /127\.0\.0\.2 is a loopback address/],
    ['srt://[::1]:1', /0:0:0:0:0:0:0:1 is a loopback address/],
  ])('refuses source %s, which leads outside the allowed range, with 422 and no state written', async (url, why) => {
    const events = await eventCount();
    const r = await post({ id: 'private-src', source: { url } });
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ statusCode: 422, code: 'LM_PRIVATE_ADDRESS' });
    expect(r.body.message).toMatch(why);
    expect(r.body.message).toMatch(/LIVEMESH_ALLOW_PRIVATE_SOURCES/);
    expect(await bus.store(BUCKETS.streams).get('private-src')).toBeUndefined();
    expect(await eventCount()).toBe(events);
  });

  it('refuses an RTMP output outside the allowed range, and SRT options that would make ingest listen', async () => {
    const out = await post({ id: 'private-out', outputs: { rtmp: ['rtmp://127.0.0.1:1/live/k', 'rtmp://localhost.:1/live/k', 'rtmp://127.0.0.3:1/live/k'] } });
    expect(out.status).toBe(422);
    expect(out.body).toMatchObject({ code: 'LM_PRIVATE_ADDRESS' });
    expect(out.body.message).toMatch(/RTMP output URL host 127\.0\.0\.3 leads to 127\.0\.0\.3 is a loopback address/);
    const srt = await post({ id: 'srt-listen', source: { url: 'srt://127.0.0.1:1?mode=listener' } });
    expect(srt.status).toBe(422);
    expect(srt.body).toMatchObject({ code: 'LM_SOURCE_URL' });
    expect(srt.body.message).toMatch(/SRT option mode has a value that is not allowed/);
    expect(await bus.store(BUCKETS.streams).get('private-out')).toBeUndefined();
    expect(await bus.store(BUCKETS.streams).get('srt-listen')).toBeUndefined();
  });

  it('accepts a network source (the URL is not fetched here: ingest pulls it)', async () => {
    const r = await post({ id: 'good-src', source: { url: 'http://127.0.0.1:1/x.m3u8' }, outputs: { rtmp: ['rtmp://127.0.0.1:1/live/k'] } });
    expect(r.status).toBe(201);
    const record = await bus.store(BUCKETS.streams).get('good-src');
    expect(record?.value.request.source?.url).toBe('http://127.0.0.1:1/x.m3u8');
  });

  it("shows ingest's SRT listener and delivery's latency in the stream's status", async () => {
    const started = await post({ id: 'with-status' });
    expect(started.status).toBe(201);
    expect(started.body.publish.srt).toBeUndefined();
    const status = bus.store(BUCKETS.status);
    const now = new Date().toISOString();
    await status.put(statusKey('with-status', 'ingest'), { streamId: 'with-status', srt: { port: 9007 }, updatedAt: now });
    await status.put(statusKey('with-status', 'delivery'), { streamId: 'with-status', latency: { ingestToPlaylistMs: { p50: 2300, last: 2100, samples: 12 } }, updatedAt: now });
    const view = (await (await authFetch(`${base}/api/streams/with-status`)).json()) as StreamView;
    // The key is in the answer that created the stream only: the status shows where, not with what.
    expect(view.publish).toEqual({ rtmp: expect.stringMatching(/\/live$/), srt: 'srt://media.example:9007' });
    expect(view.latency).toEqual({ ingestToPlaylistMs: { p50: 2300, last: 2100, samples: 12 } });
  });
});
