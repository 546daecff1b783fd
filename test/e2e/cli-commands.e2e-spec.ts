// The built `livemesh` command (node apps/cli/dist/main.js) against a real orchestrator on a real
// nats-server. The orchestrator runs in this process with a fake container runtime (our own
// interface, at the edge), so no worker starts; everything the CLI does goes over HTTP and NATS.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { loadEnv, type ServiceSpec } from '@livemesh/contracts';
import type { ContainerRuntime, ServiceInstance, StartInstruction } from '@livemesh/runtime';
import { createOrchestratorApp } from '../../apps/orchestrator/src/orchestrator.app.js';
import { freePort } from '../support/free-port.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { spawnNode, type AppProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { authFetch } from '../support/auth.js';

class FakeRuntime implements ContainerRuntime {
  readonly kind = 'process' as const;
  readonly scaled: { service: string; replicas: number }[] = [];
  async ensure(instr: StartInstruction) {
    return { instance: this.instance(instr.service.name, 0), reused: false };
  }
  async scale(service: ServiceSpec, replicas: number) {
    this.scaled.push({ service: service.name, replicas });
    return Array.from({ length: replicas }, (_, i) => this.instance(service.name, i));
  }
  async list(service?: string) {
    const last = this.scaled.filter((s) => s.service === service).at(-1);
    return Array.from({ length: last?.replicas ?? 0 }, (_, i) => this.instance(service!, i));
  }
  async release() {}
  async close() {}
  private instance(service: string, i: number): ServiceInstance {
    return { id: `fake-${service}-${i}`, service, state: 'running', startedAt: new Date().toISOString() };
  }
}

describe('livemesh CLI (built, against a real orchestrator and nats-server)', () => {
  let nats: NatsServer;
  let app: INestApplication;
  let dir: string;
  let cliEnv: Record<string, string>;
  let base: string;
  let adminToken: string;
  const runtime = new FakeRuntime();

  /** Runs `livemesh ...args` to completion. */
  async function cli(...args: string[]): Promise<{ code: number | null; out: string; proc: AppProcess }> {
    const proc = spawnNode('livemesh', ['apps/cli/dist/main.js', ...args], cliEnv);
    const { code } = await proc.exited;
    return { code, out: proc.lines.join('\n'), proc };
  }
  /** `livemesh ...args` with more environment (another token, another data folder). */
  async function cliWith(extra: Record<string, string>, ...args: string[]): Promise<{ code: number | null; out: string }> {
    const proc = spawnNode('livemesh', ['apps/cli/dist/main.js', ...args], { ...cliEnv, ...extra });
    const { code } = await proc.exited;
    return { code, out: proc.lines.join('\n') };
  }
  // JSON answers of many shapes; each test checks what it reads.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function json(...args: string[]): Promise<any> {
    const r = await cli(...args);
    if (r.code !== 0) throw new Error(`livemesh ${args.join(' ')} exited ${r.code}:\n${r.out}`);
    return JSON.parse(r.out);
  }

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-cli-'));
    const port = await freePort();
    // The CLI finds the orchestrator and NATS from the same environment variables the mesh uses.
    // With LIVEMESH_DATA_DIR too: the orchestrator writes its admin token there and the CLI reads it.
    cliEnv = { NATS_URL: nats.url, HTTP_PORT: String(port), LIVEMESH_PUBLIC_HOST: '127.0.0.1', LIVEMESH_DATA_DIR: dir, NO_COLOR: '1' };
    base = `http://127.0.0.1:${port}`;
    app = await createOrchestratorApp(loadEnv({ ...cliEnv, STOP_DRAIN_SECONDS: '1' }), { runtime, logger: ['error'] });
    await app.startAllMicroservices();
    await app.listen(port, '127.0.0.1');
    adminToken = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
  });

  afterAll(async () => {
    await app?.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('says what every command does in --help', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(0);
    for (const line of [
      /up \[options\]\s+run the whole mesh on this machine/,
      /stream\s+start, stop, inspect, change and record live streams/,
      /service\s+list, show, register, build and scale/,
      /pipeline\s+list, show and apply pipelines/,
      /events \[options\]\s+tail status events/,
      /platform\s+publish stream start\/stop events/,
      /token\s+create, list and revoke API tokens/,
      /Examples:/,
    ]) {
      expect(top.out).toMatch(line);
    }
    const subcommands: [string[], RegExp][] = [
      [['stream', 'start'], /start a stream: plan its chain/],
      [['stream', 'stop'], /stop a stream: refuse further publishes, drain/],
      [['stream', 'ls'], /list streams/],
      [['stream', 'show'], /show a stream: state, chain/],
      [['stream', 'change'], /replace the chain of a live stream/],
      [['stream', 'record'], /write the finished segments of a stream/],
      [['service', 'ls'], /list services/],
      [['service', 'show'], /show a service/],
      [['service', 'register'], /register \(or replace\) a service/],
      [['service', 'scale'], /run exactly this many workers of a service/],
      [['service', 'instances'], /list the running workers/],
      [['pipeline', 'ls'], /list pipelines/],
      [['pipeline', 'show'], /show a pipeline/],
      [['pipeline', 'apply'], /create or replace a pipeline from a YAML or JSON file/],
      [['events'], /tail status events/],
      [['platform', 'start-event'], /publish a stream-start event on lm\.evt\.platform\.stream\.started/],
      [['platform', 'stop-event'], /publish a stream-stop event on lm\.evt\.platform\.stream\.stopped/],
      [['up'], /run the whole mesh on this machine/],
    ];
    const helps = await Promise.all(subcommands.map(([cmd]) => cli(...cmd, '--help')));
    helps.forEach((h, i) => {
      const [cmd, what] = subcommands[i]!;
      expect({ cmd: cmd.join(' '), code: h.code }).toEqual({ cmd: cmd.join(' '), code: 0 });
      expect(h.out).toContain(`Usage: livemesh ${cmd.join(' ')}`);
      expect(h.out).toMatch(what);
    });
  });

  it('lists, registers and shows services', async () => {
    const ls = await cli('service', 'ls');
    expect(ls.code).toBe(0);
    expect(ls.out).toMatch(/^watermark\t\S+\tsegments\treplicas \d+-\d+\tbuilt-in$/m);
    expect(ls.out).toMatch(/^passthrough\t/m);

    const file = join(dir, 'blur.yaml');
    await writeFile(file, [
      'name: blur',
      'version: 1.0.0',
      'input: segments',
      'minReplicas: 0',
      'maxReplicas: 2',
      'paramSchema:',
      '  type: object',
      '  additionalProperties: false',
      '  properties:',
      '    radius: { type: integer, minimum: 1, default: 4 }',
    ].join('\n'));
    expect(await json('service', 'register', '-f', file)).toMatchObject({ name: 'blur', builtIn: false });
    expect(await json('service', 'show', 'blur')).toMatchObject({ name: 'blur', version: '1.0.0' });
    expect(await json('service', 'scale', 'blur', '2')).toMatchObject({ service: 'blur', instances: [{ id: 'fake-blur-0' }, { id: 'fake-blur-1' }] });
    expect(runtime.scaled).toEqual([{ service: 'blur', replicas: 2 }]);
    const instances = await cli('service', 'instances', 'blur');
    expect(instances.code).toBe(0);
    expect(instances.out).toMatch(/^fake-blur-0\trunning\tsince \S+\nfake-blur-1\trunning\tsince \S+$/);
    const unknown = await cli('service', 'instances', 'nope');
    expect(unknown.code).not.toBe(0);
  });

  it('applies a pipeline from YAML and lists it', async () => {
    const file = join(dir, 'games.yaml');
    await writeFile(file, [
      'name: games',
      'priority: 10',
      'selectors:',
      '  category: [game, esports]',
      'stages:',
      '  - service: blur',
      '    params: { radius: 2 }',
      '  - service: transcode',
      '    params: { width: 640, height: 360 }',
    ].join('\n'));
    expect(await json('pipeline', 'apply', '-f', file)).toMatchObject({ name: 'games', stages: [{ service: 'blur' }, { service: 'transcode' }] });
    const ls = await cli('pipeline', 'ls');
    expect(ls.out).toMatch(/^games\tblur -> transcode\t\{"category":\["game","esports"\]\}$/m);
    expect(ls.out).toMatch(/^default\twatermark -> transcode\t\{\}\tdefault$/m);
    expect(await json('pipeline', 'show', 'games')).toMatchObject({ priority: 10, selectors: { category: ['game', 'esports'] } });
  });

  it('starts, lists, shows, changes and stops a stream', async () => {
    const started = await json('stream', 'start', 'cli-1', '--stage', 'passthrough');
    expect(started).toMatchObject({ id: 'cli-1', state: 'live', chain: { version: 1, hops: [{ service: 'passthrough', subject: 'lm.seg.passthrough.cli-1.0' }] } });
    expect(started.publish.rtmp).toMatch(/^rtmp:\/\/127\.0\.0\.1:\d+\/live\/[A-Za-z0-9_-]{20,}$/);

    // Selectors pick the pipeline from the attributes.
    const game = await json('stream', 'start', 'cli-game', '-a', 'category=game');
    expect(game.chain.hops.map((h: { service: string }) => h.service)).toEqual(['blur', 'transcode']);

    // Adjacent built-in video stages share one hop unless --no-fuse says otherwise.
    type Hop = { fusedThrough?: number; fusedInto?: number };
    const fusion = (v: { chain: { hops: Hop[] } }) => v.chain.hops.map((h) => [h.fusedThrough ?? null, h.fusedInto ?? null]);
    expect(fusion(await json('stream', 'start', 'cli-fused', '-s', 'watermark', '-s', 'transcode'))).toEqual([[1, null], [null, 0]]);
    expect(fusion(await json('stream', 'start', 'cli-apart', '--no-fuse', '-s', 'watermark', '-s', 'transcode'))).toEqual([[null, null], [null, null]]);

    const ls = await cli('stream', 'ls');
    expect(ls.out).toMatch(/^cli-1\tlive\tv1\tpassthrough$/m);
    expect(ls.out).toMatch(/^cli-game\tlive\tv1\tblur -> transcode$/m);
    expect(ls.out).toMatch(/^cli-fused\tlive\tv1\twatermark\+transcode$/m);
    expect(ls.out).toMatch(/^cli-apart\tlive\tv1\twatermark -> transcode$/m);
    for (const id of ['cli-fused', 'cli-apart']) expect(await json('stream', 'stop', id)).toMatchObject({ state: 'ended' });

    const shown = await json('stream', 'show', 'cli-1');
    expect(shown.chain.hops[0]).toMatchObject({ service: 'passthrough', counters: { processed: 0, pending: 0, failed: 0 } });
    // The key was shown by `start` only; `rotate-key` shows a new one.
    expect(JSON.stringify(shown)).not.toContain(started.publish.key);
    const rotated = await json('stream', 'rotate-key', 'cli-1');
    expect(rotated.publish.key).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(rotated.publish.key).not.toBe(started.publish.key);

    const changed = await json('stream', 'change', 'cli-1', '-s', 'watermark:{"text":"v2"}', '-s', 'passthrough');
    expect(changed.chain.version).toBe(2);
    expect(changed.chain.hops.map((h: { subject: string }) => h.subject)).toEqual(['lm.seg.watermark.cli-1.0', 'lm.seg.passthrough.cli-1.1']);

    expect(await json('stream', 'stop', 'cli-1')).toMatchObject({ id: 'cli-1', state: 'ended' });
    expect((await cli('stream', 'ls')).out).toMatch(/^cli-1\tended\tv2\t$/m);
  });

  it('publishes platform events the orchestrator acts on, and tails status events', async () => {
    const events = spawnNode('livemesh-events', ['apps/cli/dist/main.js', 'events', '--stream', 'plat-y'], cliEnv);
    try {
      await events.waitForLine(/^listening on lm\.evt\.stream\.plat-y\.>/, 15_000);

      const start = await cli('platform', 'start-event', 'plat-y', '-s', 'passthrough');
      expect(start.code).toBe(0);
      expect(start.out).toMatch(/^published lm\.evt\.platform\.stream\.started \{"id":"plat-y"/);
      const live = await waitFor('plat-y live', 15_000, async () => {
        const res = await authFetch(`${base}/api/streams/plat-y`, {}, adminToken);
        const body = res.ok ? ((await res.json()) as { state: string }) : undefined;
        return body?.state === 'live' ? body : undefined;
      });
      expect(live).toMatchObject({ chain: { hops: [{ service: 'passthrough' }] } });
      await events.waitForLine(/"streamId":"plat-y","kind":"chain-ready"/, 15_000);

      expect((await cli('platform', 'stop-event', 'plat-y')).code).toBe(0);
      await events.waitForLine(/"streamId":"plat-y","kind":"ended"/, 15_000);
      // Every printed line is one JSON status event.
      const printed = events.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { kind: string });
      expect(printed.map((e) => e.kind)).toEqual(expect.arrayContaining(['starting', 'chain-ready', 'stopping', 'ended']));
    } finally {
      process.kill(events.pid!, 'SIGINT');
    }
    expect((await events.exited).code).toBe(0);
  });

  it('creates, uses, lists and revokes API tokens, and says why a call was refused', async () => {
    const created = await cli('token', 'create', '--name', 'my platform', '--scope', 'platform', '--expires', '30d');
    expect(created.code).toBe(0);
    const token = created.out.match(/^lm_[a-z0-9]+_\S+$/m)![0];
    const id = token.split('_')[1]!;
    expect(created.out).toMatch(new RegExp(`token ${id} \\("my platform", platform, expires \\S+\\): shown this once`));
    const asPlatform = (...args: string[]) => cliWith({ LIVEMESH_TOKEN: token }, ...args);
    expect((await asPlatform('stream', 'start', 'tok-1', '-s', 'passthrough')).code).toBe(0);
    const denied = await asPlatform('service', 'ls');
    expect(denied.code).toBe(1);
    expect(denied.out).toBe(`livemesh: 403: GET /api/services needs scope admin; token ${id} ("my platform") has platform\n  the token from LIVEMESH_TOKEN lacks that scope; use a token that has it (LIVEMESH_TOKEN)`);

    const list = await cli('token', 'list');
    expect(list.out).toMatch(/^[a-z0-9]+\tbootstrap admin\tadmin\tcreated \S+\tbootstrap$/m);
    expect(list.out).toMatch(new RegExp(`^${id}\tmy platform\tplatform\tcreated \\S+\texpires \\S+$`, 'm'));
    expect(list.out).not.toContain(token.split('_').slice(2).join('_'));

    expect((await cli('token', 'revoke', id)).out).toMatch(new RegExp(`^revoked ${id} \\("my platform"\\) at \\S+$`));
    const after = await asPlatform('stream', 'ls');
    expect(after.code).toBe(1);
    expect(after.out).toMatch(new RegExp(`^livemesh: 401: token ${id} \\("my platform"\\) was revoked at \\S+\n {2}the token from LIVEMESH_TOKEN was refused`));
    const none = await cliWith({ LIVEMESH_DATA_DIR: join(dir, 'empty') }, 'stream', 'ls');
    expect(none.code).toBe(1);
    expect(none.out).toMatch(/^livemesh: 401: no bearer token: .*\n {2}no token: set LIVEMESH_TOKEN, or run where `livemesh up` wrote \S*empty\/admin\.token/);
    expect((await cli('token', 'create', '--name', 'x', '--scope', 'root')).out).toMatch(/a scope is one of admin, platform, read, got "root"/);
  });

  it('prints errors clearly and exits 1', async () => {
    const missing = await cli('stream', 'show', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.out).toBe('livemesh: 404: stream "nope" does not exist');

    const unplannable = await cli('stream', 'start', 'bad-1', '-s', 'ghost', '-s', 'watermark:{"text":5}');
    expect(unplannable.code).toBe(1);
    expect(unplannable.out).toMatch(/^livemesh: 422: .+\n {2}- stages\[0\]\.service: unknown service "ghost"\n {2}- stages\[1\]\.params\.text: must be string$/);
    expect((await authFetch(`${base}/api/streams/bad-1`, {}, adminToken)).status).toBe(404);

    const badId = await cli('stream', 'start', 'a.b');
    expect(badId.code).toBe(1);
    expect(badId.out).toMatch(/^livemesh: 400: .*\n {2}- id must be 1-64 letters/);

    const badPipeline = join(dir, 'bad.yaml');
    await writeFile(badPipeline, 'name: bad\nstages:\n  - service: ghost\n');
    const apply = await cli('pipeline', 'apply', '-f', badPipeline);
    expect(apply.code).toBe(1);
    expect(apply.out).toMatch(/422: .*\n {2}- stages\[0\]\.service: unknown service "ghost"/);

    const noFile = await cli('pipeline', 'apply', '-f', join(dir, 'missing.yaml'));
    expect(noFile).toMatchObject({ code: 1, out: expect.stringMatching(/^livemesh: cannot read .*missing\.yaml: ENOENT$/) });

    const badStage = await cli('stream', 'start', 'x', '-s', 'watermark:{oops');
    expect(badStage.code).toBe(1);
    expect(badStage.out).toMatch(/the parameters of stage "watermark" are not JSON/);

    const badPlatform = await cli('platform', 'start-event', 'not valid!');
    expect(badPlatform.code).toBe(1);
    expect(badPlatform.out).toMatch(/^livemesh: stream-start event is invalid: id must be 1-64 letters/);

    const noOrchestrator = await cli('--api', 'http://127.0.0.1:9', 'stream', 'ls');
    expect(noOrchestrator).toMatchObject({ code: 1, out: expect.stringMatching(/^livemesh: cannot reach the orchestrator at http:\/\/127\.0\.0\.1:9/) });
  });
});
