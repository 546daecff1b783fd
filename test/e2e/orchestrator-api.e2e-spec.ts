// The orchestrator's HTTP API and platform events against a real nats-server. Only the container
// runtime is a fake (our own interface, at the edge): it records the start instructions it gets.
// The orchestrator and nats-server are shared, but every test makes what it needs (its own stream
// ids, services and pipelines) and compares only against what it made, so any test passes alone
// (`-t "<name>"`) and in any order.
import { createServer, type Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { Bus, publishStreamEvent } from '@livemesh/bus';
import {
  BUCKETS,
  hashStreamKey,
  loadEnv,
  subjects,
  type Env,
  type ServiceSpec,
  type StreamEvent,
  type StreamView,
} from '@livemesh/contracts';
import type { ContainerRuntime, ServiceInstance, StartInstruction } from '@livemesh/runtime';
import { createOrchestratorApp } from '../../apps/orchestrator/src/orchestrator.app.js';
import { freePort } from '../support/free-port.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait.js';
import { ADMIN_TOKEN_ENV, authFetch } from '../support/auth.js';

class RecordingRuntime implements ContainerRuntime {
  readonly kind = 'process' as const;
  readonly ensured: StartInstruction[] = [];
  readonly released: string[] = [];
  readonly scaled: { service: string; replicas: number }[] = [];
  private readonly running = new Map<string, ServiceInstance>();

  async ensure(instr: StartInstruction) {
    this.ensured.push(instr);
    const have = this.running.get(instr.service.name);
    if (have) return { instance: have, reused: true };
    const instance: ServiceInstance = { id: `fake-${instr.service.name}`, service: instr.service.name, state: 'running', startedAt: new Date().toISOString() };
    this.running.set(instr.service.name, instance);
    return { instance, reused: false };
  }
  async scale(service: ServiceSpec, replicas: number) {
    this.scaled.push({ service: service.name, replicas });
    return Array.from({ length: replicas }, (_, i): ServiceInstance => ({ id: `fake-${service.name}-${i}`, service: service.name, state: 'running', startedAt: new Date().toISOString() }));
  }
  async list(service?: string) {
    return [...this.running.values()].filter((i) => service === undefined || i.service === service);
  }
  async release(service: string) {
    this.released.push(service);
    this.running.delete(service);
  }
  async close() {
    this.running.clear();
  }
}

describe('orchestrator API (real NATS, fake runtime)', () => {
  let nats: NatsServer;
  let bus: Bus;
  let env: Env;
  let app: INestApplication | undefined;
  let base: string;
  const runtime = new RecordingRuntime();
  const events: StreamEvent[] = [];

  async function startApp(): Promise<void> {
    app = await createOrchestratorApp(env, { runtime, logger: ['error', 'warn'] });
    await app.startAllMicroservices();
    await app.listen(env.HTTP_PORT, '127.0.0.1');
  }

  // The answers' shapes are what the assertions check, so the body is left untyped here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await authFetch(base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  }

  const chains = () => bus.store(BUCKETS.chains);
  const records = () => bus.store(BUCKETS.streams);
  const keys = () => bus.store(BUCKETS.keys);
  const eventsOf = (id: string, kind: string) => events.filter((e) => e.streamId === id && e.kind === kind);

  beforeAll(async () => {
    nats = await startNatsServer();
    const port = await freePort();
    // Nothing listens on the delivery port until a test starts something there.
    const deliveryPort = await freePort();
    env = loadEnv({ NATS_URL: nats.url, HTTP_PORT: String(port), DELIVERY_URL: `http://127.0.0.1:${deliveryPort}`, STOP_DRAIN_SECONDS: '2', LIVEMESH_PUBLIC_HOST: 'media.example', ...ADMIN_TOKEN_ENV });
    base = `http://127.0.0.1:${port}`;
    await startApp();
    bus = await Bus.connect({ url: nats.url, name: 'orchestrator-e2e' });
    bus.subscribe(subjects.streamEvents(), {
      callback: (err, msg) => {
        if (err) return;
        // One test publishes a malformed event on purpose; a throw here would break the client.
        try {
          events.push(msg.json<StreamEvent>());
        } catch {
          /* not a StreamEvent: the orchestrator must drop it, the collector ignores it */
        }
      },
    });
    await bus.flush();
  });

  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await nats?.stop();
  });

  /** A service like the example pixelate, under a name of the test's own. */
  const pixelateLike = (name: string) => ({
    name,
    version: '1.0.0',
    paramSchema: { type: 'object', additionalProperties: false, properties: { block: { type: 'integer', minimum: 2, default: 16 } } },
    input: 'segments',
    minReplicas: 0,
    maxReplicas: 3,
    startParams: { threads: 1 },
  });
  async function registerPixelateLike(name: string): Promise<void> {
    expect((await api('POST', '/api/services', pixelateLike(name))).status).toBe(201);
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function startStream(body: Record<string, unknown>): Promise<any> {
    const res = await api('POST', '/api/streams', body);
    expect(res.status).toBe(201);
    return res.body;
  }
  async function waitLive(id: string): Promise<StreamView> {
    return waitFor(`${id} live`, 15_000, async () => {
      const r = await api('GET', `/api/streams/${id}`);
      return r.status === 200 && r.body.state === 'live' ? (r.body as StreamView) : undefined;
    });
  }
  /** The streamIds that lm_keys holds a key for. */
  async function keyOwners(): Promise<string[]> {
    const owners: string[] = [];
    for (const k of await keys().keys()) owners.push((await keys().get(k))!.value.streamId);
    return owners;
  }

  it('lists the built-in services and the default pipeline', async () => {
    const services = await api('GET', '/api/services');
    expect(services.status).toBe(200);
    const builtIn = (services.body as ServiceSpec[]).filter((s) => s.builtIn === true).map((s) => s.name);
    expect(builtIn).toEqual(expect.arrayContaining(['transcode', 'watermark', 'passthrough', 'thumbnail']));
    const p = await api('GET', '/api/pipelines/default');
    expect(p.body).toMatchObject({ default: true, stages: [{ service: 'watermark' }, { service: 'transcode' }] });
  });

  it('registers a service and refuses bad ones, naming the field', async () => {
    const pixelate = pixelateLike('pix-reg');
    expect((await api('POST', '/api/services', pixelate)).status).toBe(201);
    expect((await api('GET', '/api/services/pix-reg')).body).toMatchObject({ name: 'pix-reg', builtIn: false });
    expect((await api('POST', '/api/services', pixelate)).status).toBe(409);

    const unknownField = await api('POST', '/api/services', { ...pixelate, name: 'p2', colour: 'red' });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.problems).toEqual(['colour: property colour should not exist']);

    const dotted = await api('POST', '/api/services', { ...pixelate, name: 'pix.late' });
    expect(dotted.status).toBe(400);
    expect(dotted.body.problems.join()).toMatch(/^name must be 1-64 letters/);

    const badSchema = await api('POST', '/api/services', { ...pixelate, name: 'p3', paramSchema: { type: 'object', properties: {} } });
    expect(badSchema.status).toBe(400);
    expect(badSchema.body.problems).toEqual(['paramSchema.additionalProperties: must be false, so unknown parameters are refused']);

    const replicas = await api('POST', '/api/services', { ...pixelate, name: 'p4', minReplicas: 5, maxReplicas: 2 });
    expect(replicas.status).toBe(400);
    expect(replicas.body.problems[0]).toMatch(/^minReplicas: must not exceed maxReplicas/);

    expect((await api('GET', '/api/services/p3')).status).toBe(404);
    expect((await api('DELETE', '/api/services/watermark')).status).toBe(409);

    const scaledBefore = runtime.scaled.length;
    const scaled = await api('POST', '/api/services/pix-reg/scale', { replicas: 2 });
    expect(scaled.status).toBe(200);
    expect(scaled.body.instances).toHaveLength(2);
    expect(runtime.scaled.slice(scaledBefore)).toEqual([{ service: 'pix-reg', replicas: 2 }]);
    expect((await api('POST', '/api/services/pix-reg/scale', { replicas: 9 })).status).toBe(400);
  });

  it('creates a pipeline with selectors and refuses one that cannot plan', async () => {
    await registerPixelateLike('pix-pipe');
    const games = { name: 'games-pipe', priority: 10, selectors: { category: ['game-pipe'] }, stages: [{ service: 'pix-pipe', params: { block: 8 } }, { service: 'transcode', params: { width: 640, height: 360 } }] };
    expect((await api('POST', '/api/pipelines', games)).status).toBe(201);
    const bad = await api('POST', '/api/pipelines', { name: 'broken', stages: [{ service: 'ghost' }, { service: 'pix-pipe', params: { blk: 3 } }] });
    expect(bad.status).toBe(422);
    expect(bad.body.problems).toEqual(['stages[0].service: unknown service "ghost"', 'stages[1].params: unknown parameter "blk"']);
    const names = (await api('GET', '/api/pipelines')).body.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['default', 'games-pipe']));
    expect(names).not.toContain('broken');
    // Its selectors choose it for a stream of that category.
    const view = await startStream({ id: 'pipe-1', attributes: { category: 'game-pipe' } });
    expect(view.chain.hops.map((h: { service: string }) => h.service)).toEqual(['pix-pipe', 'transcode']);
  });

  it('starts a stream by HTTP: chain spec with subjects and params in KV, key in lm_keys, status events', async () => {
    await registerPixelateLike('pix-start');
    const pipeline = { name: 'start-pipe', priority: 10, selectors: { category: ['esports-start'] }, stages: [{ service: 'pix-start', params: { block: 8 } }, { service: 'transcode', params: { width: 640, height: 360 } }] };
    expect((await api('POST', '/api/pipelines', pipeline)).status).toBe(201);
    const ensuredBefore = runtime.ensured.length;
    const view = (await startStream({ id: 'match-1', attributes: { category: 'esports-start' }, overrides: { 'pix-start': { block: 4 } } })) as StreamView;
    expect(view.state).toBe('live');
    expect(view.chain).toEqual({
      version: 1,
      hops: [
        // Its output goes to transcode, which encodes again: it hands on a mezzanine, not final quality.
        { service: 'pix-start', params: { block: 4 }, subject: 'lm.seg.pix-start.match-1.0', handOff: 'mezzanine' },
        // The service's schema fills the parameters the pipeline leaves out; the hop shows the transfer parameters transcode emits and reads.
        { service: 'transcode', params: expect.objectContaining({ width: 640, height: 360, rendition: 'main' }), subject: 'lm.seg.transcode.match-1.1', transfer: { emits: ['width', 'height', 'videoBitrateKbps'], reads: [{ name: 'sceneCuts', required: false }] } },
      ],
    });
    const key = view.publish.key!;
    expect(view.publish.rtmp).toBe(`rtmp://media.example:${env.RTMP_PORT}/live/${key}`);
    expect(view.playback.hls).toBe(`http://media.example:${env.HTTP_PORT}/hls/match-1/index.m3u8`);
    expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(key).not.toContain('match');

    const chain = (await chains().get('match-1'))!.value;
    expect(chain.hops).toEqual([
      { index: 0, service: 'pix-start', params: { block: 4 }, subject: 'lm.seg.pix-start.match-1.0', next: 'lm.seg.transcode.match-1.1', handOff: 'mezzanine' },
      { index: 1, service: 'transcode', params: expect.objectContaining({ width: 640, height: 360 }), subject: 'lm.seg.transcode.match-1.1', next: null, transfer: { emits: ['width', 'height', 'videoBitrateKbps'], reads: [{ name: 'sceneCuts', required: false }] } },
    ]);
    expect((await keys().get(hashStreamKey(key)))!.value).toEqual({ streamId: 'match-1' });
    expect((await records().get('match-1'))!.value).toMatchObject({ state: 'live', keyHash: hashStreamKey(key), chainVersion: 1 });
    expect(runtime.ensured.slice(ensuredBefore).map((i) => [i.service.name, i.startParams])).toEqual([['pix-start', { threads: 1 }], ['transcode', {}]]);
    await waitFor('chain-ready event', 15_000, () => eventsOf('match-1', 'chain-ready')[0]);
    expect(eventsOf('match-1', 'starting')).toHaveLength(1);
  });

  it('answers a second start of a live stream with the same stream, without its key (200)', async () => {
    const first = await startStream({ id: 'again-1' });
    const ensuredBefore = runtime.ensured.length;
    const again = await api('POST', '/api/streams', { id: 'again-1' });
    expect(again.status).toBe(200);
    expect(again.body.publish).toEqual({ rtmp: `rtmp://media.example:${env.RTMP_PORT}/live` });
    expect(JSON.stringify(again.body)).not.toContain(first.publish.key);
    expect(runtime.ensured.length).toBe(ensuredBefore);
  });

  it('lets only one of two concurrent starts of a new id win', async () => {
    const [a, b] = await Promise.all([api('POST', '/api/streams', { id: 'race-1' }), api('POST', '/api/streams', { id: 'race-1' })]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    // Only the winner's answer holds the key, and lm_keys holds that one key for the stream.
    const handedOut = [a.body.publish.key, b.body.publish.key].filter((k) => k !== undefined);
    expect(handedOut).toHaveLength(1);
    expect((await keyOwners()).filter((id) => id === 'race-1')).toHaveLength(1);
    expect((await keys().get(hashStreamKey(handedOut[0])))!.value).toEqual({ streamId: 'race-1' });
    await waitLive('race-1');
  });

  it('shows per-hop counters (processed, pending, failed) from what JetStream holds', async () => {
    await startStream({ id: 'count-1' });
    // No worker runs under the fake runtime, so what is published stays where it is put.
    const put = (subject: string, n: number) => Promise.all(Array.from({ length: n }, () => bus.publish(subject, new Uint8Array([0x47]))));
    await put('lm.seg.watermark.count-1.0', 2);
    await put('lm.seg.transcode.count-1.1', 1);
    await put(subjects.deadLetter('transcode', 'count-1'), 1);
    await put(subjects.output('count-1', 'main'), 3);
    const res = await api('GET', '/api/streams/count-1');
    expect(res.status).toBe(200);
    expect(res.body.chain.hops.map((h: { service: string; counters: object }) => [h.service, h.counters])).toEqual([
      ['watermark', { processed: 5, pending: 2, failed: 0 }],
      ['transcode', { processed: 3, pending: 1, failed: 1 }],
    ]);
    expect(res.body.output).toEqual({ segments: { main: 3 } });
  });

  it("lists a stream's lost segments among its errors: which one, where and why", async () => {
    await startStream({ id: 'lost-1' });
    // What a worker announces when it gives a segment up, plus two events that must not count:
    // another kind, and a body that is not a StreamEvent.
    await bus.publish(subjects.streamEvent('lost-1', 'thumbnail'), JSON.stringify({ streamId: 'lost-1', kind: 'thumbnail', at: new Date().toISOString() }));
    await bus.publish(subjects.streamEvent('lost-1', 'dead-letter'), 'not json');
    await publishStreamEvent(bus, { streamId: 'lost-1', kind: 'dead-letter', service: 'transcode', hop: 1, seq: 7, message: 'LM_MEDIA_INPUT: ffmpeg exited with code 1: invalid data', data: { code: 'LM_MEDIA_INPUT', attempts: 1 } });
    // Segments given up to keep the stream live are lost to the viewer too: listed the same way.
    await publishStreamEvent(bus, { streamId: 'lost-1', kind: 'segments-dropped', service: 'watermark', hop: 0, seq: 9, message: 'seqs 9-11 dropped: past the 6000 ms latency budget', data: { reason: 'late', from: 9, to: 11, count: 3 } });
    const errors = await waitFor('the dead letter and the drop in the stream record', 15_000, async () => {
      const res = await api('GET', '/api/streams/lost-1');
      return res.body.errors.length > 1 ? (res.body.errors as { message: string; service?: string }[]) : undefined;
    });
    expect(errors).toEqual([
      expect.objectContaining({ service: 'transcode', message: 'dead-letter (transcode, hop 1, seq 7): LM_MEDIA_INPUT: ffmpeg exited with code 1: invalid data' }),
      expect.objectContaining({ service: 'watermark', message: 'segments-dropped (watermark, hop 0, seq 9): seqs 9-11 dropped: past the 6000 ms latency budget' }),
    ]);
  });

  it('refuses an unknown service with 422 listing every problem, writing no state', async () => {
    const res = await api('POST', '/api/streams', { id: 'bad-1', stages: [{ service: 'nope' }, { service: 'watermark', params: { text: 5 } }] });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ statusCode: 422, error: 'Unprocessable Entity' });
    expect(res.body.problems).toEqual(['stages[0].service: unknown service "nope"', 'stages[1].params.text: must be string']);
    expect(await records().get('bad-1')).toBeUndefined();
    expect(await chains().get('bad-1')).toBeUndefined();
    expect(await keyOwners()).not.toContain('bad-1');
    const missing = await api('GET', '/api/streams/bad-1');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('stream "bad-1" does not exist');
    expect((await api('POST', '/api/streams', { id: 'a.b' })).status).toBe(400);
  });

  it('starts a stream from a platform event on lm.evt.platform.stream.started, after dropping an invalid one', async () => {
    await bus.publish(subjects.platformStarted, JSON.stringify({ id: 'not valid!' }));
    await bus.publish(subjects.platformStarted, 'not json');
    await bus.publish(subjects.platformStarted, JSON.stringify({ id: 'plat-1', stages: [{ service: 'watermark', params: { text: 'hi' } }] }));
    const view = await waitFor('plat-1 in GET /api/streams', 15_000, async () =>
      ((await api('GET', '/api/streams')).body as StreamView[]).find((s) => s.id === 'plat-1' && s.state === 'live'),
    );
    expect(view.chain.hops).toEqual([{ service: 'watermark', params: expect.objectContaining({ text: 'hi' }), subject: 'lm.seg.watermark.plat-1.0' }]);
  });

  it('handles an event published while the orchestrator was down once it is back', async () => {
    await registerPixelateLike('pix-restart');
    await startStream({ id: 'before-restart-1', stages: [{ service: 'pix-restart' }] });
    const liveServices = new Set(
      ((await api('GET', '/api/streams')).body as StreamView[]).filter((s) => s.state === 'live').flatMap((s) => s.chain.hops.map((h) => h.service)),
    );
    await app!.close();
    app = undefined;
    await bus.publish(subjects.platformStarted, JSON.stringify({ id: 'offline-1' }));
    const ensuredBefore = runtime.ensured.length;
    await startApp();
    // At boot the services of every live stream get their start instruction again (pix-restart is
    // only used by before-restart-1), then offline-1's chain (the default pipeline) is planned.
    const ensured = () => new Set(runtime.ensured.slice(ensuredBefore).map((i) => i.service.name));
    expect([...ensured()]).toEqual(expect.arrayContaining([...liveServices]));
    expect(liveServices).toContain('pix-restart');
    const view = await waitLive('offline-1');
    expect(view.chain.hops.map((h) => h.service)).toEqual(['watermark', 'transcode']);
    // Transcode runs fused in watermark's workers there, so it gets no start instruction of its own.
    expect(ensured()).toEqual(new Set([...liveServices, 'watermark']));
    // State survived the restart too.
    expect((await api('GET', '/api/streams/before-restart-1')).body.state).toBe('live');
  });

  it('changes the chain of a live stream: version 2, new subjects, chain-changed event', async () => {
    await registerPixelateLike('pix-change');
    await startStream({ id: 'change-1', stages: [{ service: 'transcode' }] });
    const res = await api('PATCH', '/api/streams/change-1/chain', { stages: [{ service: 'watermark', params: { text: 'v2' } }, { service: 'pix-change' }] });
    expect(res.status).toBe(200);
    expect(res.body.chain).toEqual({
      version: 2,
      hops: [
        { service: 'watermark', params: expect.objectContaining({ text: 'v2' }), subject: 'lm.seg.watermark.change-1.0' },
        { service: 'pix-change', params: { block: 16 }, subject: 'lm.seg.pix-change.change-1.1' },
      ],
    });
    const chain = (await chains().get('change-1'))!.value;
    expect(chain.version).toBe(2);
    expect(chain.hops[0]!.next).toBe('lm.seg.pix-change.change-1.1');
    await waitFor('chain-changed event', 15_000, () => eventsOf('change-1', 'chain-changed')[0]);
    expect((await api('PATCH', '/api/streams/change-1/chain', { stages: [{ service: 'ghost' }] })).status).toBe(422);
    expect((await chains().get('change-1'))!.value.version).toBe(2);
  });

  it('stops a stream: key gone, ended event, chain deleted, unused services released', async () => {
    await registerPixelateLike('pix-stop');
    const stopped = await startStream({ id: 'stop-1', stages: [{ service: 'pix-stop' }, { service: 'watermark' }] });
    // Keeps watermark in use after stop-1 ends.
    await startStream({ id: 'stop-2', stages: [{ service: 'watermark' }] });
    const released = runtime.released.length;
    const res = await api('DELETE', '/api/streams/stop-1');
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('ended');
    expect(await keys().get(hashStreamKey(stopped.publish.key))).toBeUndefined();
    expect(await chains().get('stop-1')).toBeUndefined();
    await waitFor('ended event', 15_000, () => eventsOf('stop-1', 'ended')[0]);
    // pix-stop was only in stop-1's chain; watermark is still used by stop-2.
    expect(runtime.released.slice(released)).toEqual(['pix-stop']);
    expect((await api('DELETE', '/api/streams/stop-1')).body.state).toBe('ended');
    expect((await api('DELETE', '/api/streams/ghost')).status).toBe(404);
  });

  it('stops a stream from a platform event', async () => {
    await startStream({ id: 'plat-stop-1' });
    await bus.publish(subjects.platformStopped, JSON.stringify({ id: 'plat-stop-1' }));
    await waitFor('plat-stop-1 ended', 15_000, async () => ((await api('GET', '/api/streams/plat-stop-1')).body.state === 'ended' ? true : undefined));
  });

  it('serves health, metrics, OpenAPI and proxies /hls to delivery (502 while it is down)', async () => {
    await startStream({ id: 'metrics-1' });
    const health = await api('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.nats.connected).toBe(true);

    // Before the first scrape: a scrape reads lm_workers at most once a second.
    const beat = (workerId: string, processed: number, failed: number) =>
      ({ service: 'watermark', workerId, pid: 1, host: 'h', startedAt: new Date().toISOString(), at: new Date().toISOString(), processed, failed, inFlight: 1 });
    await bus.store(BUCKETS.workers).put('watermark.w1', beat('w1', 7, 1));
    await bus.store(BUCKETS.workers).put('watermark.w2', beat('w2', 5, 0));
    const metric = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const planFailures = 'livemesh_plan_failures_total{origin="change"}';
    const failuresBefore = metric((await api('GET', '/metrics')).body, planFailures);
    expect((await api('PATCH', '/api/streams/metrics-1/chain', { stages: [{ service: 'ghost' }] })).status).toBe(422);

    const live = ((await api('GET', '/api/streams')).body as StreamView[]).filter((s) => s.state === 'live').length;
    const metrics = await api('GET', '/metrics');
    expect(metrics.body).toMatch(/livemesh_service_workers\{service="watermark"\} 2/);
    expect(metrics.body).toMatch(/livemesh_service_segments_processed\{service="watermark"\} 12/);
    expect(metrics.body).toMatch(/livemesh_service_segments_failed\{service="watermark"\} 1/);
    expect(metric(metrics.body, 'livemesh_streams{state="live"}')).toBe(live);
    expect(metric(metrics.body, planFailures)).toBe(failuresBefore + 1);
    expect(metrics.body).not.toMatch(/metrics-1/);

    const docs = await api('GET', '/api/docs-json');
    expect(docs.status).toBe(200);
    expect(Object.keys(docs.body.components.schemas)).toEqual(expect.arrayContaining(['ServiceSpec', 'PipelineSpec', 'StartStreamRequest']));
    expect(Object.keys(docs.body.paths)).toEqual(expect.arrayContaining(['/api/streams', '/api/streams/{id}/chain', '/api/tokens']));
    // The bearer scheme, and each route's scope.
    expect(docs.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(docs.body.paths['/api/streams'].post).toMatchObject({ security: [{ bearer: [] }], 'x-livemesh-scopes': ['platform'] });
    expect(docs.body.paths['/api/streams'].get['x-livemesh-scopes']).toEqual(['read']);
    expect(docs.body.paths['/api/services'].post['x-livemesh-scopes']).toEqual(['admin']);
    expect(docs.body.paths['/health'].get['x-livemesh-scopes']).toEqual(['public']);

    const down = await api('GET', '/hls/metrics-1/index.m3u8');
    expect(down.status).toBe(502);
    expect(down.body.message).toMatch(/delivery .* is not reachable/);

    const delivery: Server = createServer((req, res) => {
      res.writeHead(req.url === '/hls/metrics-1/index.m3u8' ? 200 : 404, { 'content-type': 'application/vnd.apple.mpegurl', 'x-from': 'delivery' });
      res.end('#EXTM3U\n');
    });
    await new Promise<void>((r) => delivery.listen(Number(new URL(env.DELIVERY_URL).port), '127.0.0.1', r));
    try {
      const res = await fetch(`${base}/hls/metrics-1/index.m3u8`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-from')).toBe('delivery');
      expect(await res.text()).toBe('#EXTM3U\n');
      expect((await fetch(`${base}/hls/metrics-1/nope.ts`)).status).toBe(404);
      expect((await fetch(`${base}/hls/..%2f..%2fetc/passwd`)).status).toBe(400);
    } finally {
      await new Promise((r) => delivery.close(r));
    }
  });
});
