// The docker runtime against a real engine and a real registry: `livemesh service build --push`
// packages the example service, the orchestrator (LIVEMESH_RUNTIME=docker) pulls and runs it in
// a locked-down container without a network (the bus through the relay socket), segments of a
// live RTMP stream are processed inside it and come out as continuous HLS; a second stream reuses
// the container; scaling to 2 shares the work; a killed container is replaced without losing a
// segment. The orchestrator reaches the engine through a filtering proxy that allows only the API
// sections docs/security.md lists, so the suite also proves that list is enough.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { Bus } from '@livemesh/bus';
import { RELAYED_NATS_URL, WORKER_CREDS_PATH } from '@livemesh/runtime';
import { describeDocker, dockerHost } from '../support/docker.js';
import { startDockerProxy, type DockerProxy } from '../support/docker-proxy.js';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { cpuTicks } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import {
  WORKER_IMAGE,
  buildCheckout,
  buildWorkerImage,
  cli,
  collectOutputSeqs,
  containersOf,
  docker,
  execIn,
  heartbeats,
  registryDigest,
  removeContainersOf,
  useRegistry,
  type Registry,
} from './docker-fixtures.js';

const PIXELATE = { x: 0, y: 0, w: 96, h: 48, blockSize: 12 };

/**
 * The first of `candidates` seen in the middle of a segment: its worker's warm media engine
 * (`docker top` lists it with its host pid) is using CPU, which it does only while it works on
 * a segment. Polled closely: a segment takes a fraction of a second.
 */
async function busyContainer(d: Docker, candidates: Docker.ContainerInfo[], timeoutMs: number): Promise<Docker.ContainerInfo> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const c of candidates) {
      const top = (await d.getContainer(c.Id).top().catch(() => undefined)) as { Titles?: string[]; Processes?: string[][] } | undefined;
      const pidAt = top?.Titles?.indexOf('PID') ?? -1;
      for (const p of top?.Processes ?? []) {
        if (pidAt < 0 || !p.some((field) => /\blm-engine\b/.test(field))) continue;
        const pid = Number(p[pidAt]);
        const a = cpuTicks(pid);
        await new Promise((r) => setTimeout(r, 40));
        const b = cpuTicks(pid);
        if (a !== undefined && b !== undefined && b > a) return c;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no pixelate container was seen in the middle of a segment within ${timeoutMs} ms`);
}

const START_PARAMS = { threads: 2, mode: 'x', gpu: false };

describeDocker('services in Docker containers (LIVEMESH_RUNTIME=docker)', () => {
  let d: Docker;
  let registry: Registry;
  let mesh: Mesh;
  let bus: Bus;
  let dir: string;
  let clip: string;
  let image: string;
  let proxy: DockerProxy | undefined;

  beforeAll(async () => {
    d = docker();
    buildCheckout();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-docker-e2e-'));
    await removeContainersOf(d, 'pixelate');
    [registry, clip] = await Promise.all([useRegistry(), generateClip({ seconds: 12, width: 320, height: 240, fps: 25, out: join(dir, 'src.flv') }), buildWorkerImage(d)]);
    // The orchestrator's engine is the filtering proxy (an engine given as tcp:// is used as it is).
    if (dockerHost().startsWith('unix://')) proxy = await startDockerProxy(dockerHost().slice('unix://'.length));
    mesh = await startMesh({ LIVEMESH_RUNTIME: 'docker', DOCKER_HOST: proxy?.host ?? dockerHost(), LIVEMESH_WORKER_IMAGE: WORKER_IMAGE, LIVEMESH_IMAGE_REGISTRIES: `local,${registry.address}`, WORKER_MILLICPUS: '1000', IDLE_GRACE_SECONDS: '60', STAGE_ACK_WAIT_MS: '2000', LOG_LEVEL: 'debug' });
    bus = await mesh.connectBus('docker-e2e');
  }, 300_000);

  afterAll(async () => {
    await bus?.close();
    await mesh?.stop();
    if (d) await removeContainersOf(d, 'pixelate');
    await registry?.stop();
    await proxy?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('builds the example service image, pushes it and records its digest in the catalogue', async () => {
    const build = cli(['--api', mesh.apiUrl, 'service', 'build', 'examples/pixelate', '--push', registry.address, '--worker-image', WORKER_IMAGE, '-e', 'PIXELATE_NOTE=built-by-e2e'], { DOCKER_HOST: dockerHost() });
    const { code } = await build.exited;
    expect({ code, output: code === 0 ? '' : build.tail(40) }).toEqual({ code: 0, output: '' });
    // The build streams its steps, the push its layers, and the result names the digest.
    expect(build.lines.some((l) => /^Step \d+\/\d+ : COPY service\//.test(l))).toBe(true);
    const pushed = build.lines.map((l) => l.match(/^pushed (\S+)@(sha256:[0-9a-f]{64})$/)).find(Boolean)!;
    expect(pushed).toBeTruthy();
    image = pushed[1]!;
    expect(image).toBe(`${registry.address}/livemesh/pixelate:1.0.0`);
    expect(await registryDigest(registry.address, 'livemesh/pixelate', '1.0.0')).toBe(pushed[2]);

    const { body: spec } = await mesh.api('GET', '/api/services/pixelate');
    expect(spec.run).toEqual({ image, digest: pushed[2] });
    expect(spec.env).toEqual({ PIXELATE_NOTE: 'built-by-e2e' });
    expect(spec.paramSchema.properties.blockSize).toBeDefined();
    const labels = (await d.getImage(image).inspect()).Config.Labels;
    expect(labels).toMatchObject({ 'livemesh.service': 'pixelate', 'livemesh.version': '1.0.0', 'livemesh.env': JSON.stringify({ PIXELATE_NOTE: 'built-by-e2e' }) });

    // Untag it locally: the runtime has to pull what the registry holds, by digest.
    await d.getImage(image).remove();
  }, 180_000);

  it('runs the chain in a locked-down container and delivers continuous HLS from what it processed', async () => {
    // Start parameters on the catalogue entry `service build` registered: the container's worker gets them.
    const { body: spec } = await mesh.api('GET', '/api/services/pixelate');
    expect((await mesh.api('PUT', '/api/services/pixelate', { ...spec, startParams: START_PARAMS })).status).toBe(200);
    const stream = await mesh.startStream({ id: 'dk1', stages: [{ service: 'pixelate', params: PIXELATE }] });
    const [c] = await waitFor('one running pixelate container', 60_000, async () => ((await containersOf(d, 'pixelate')).length === 1 ? containersOf(d, 'pixelate') : undefined));
    const info = await d.getContainer(c!.Id).inspect();
    expect(info.Config.Image).toMatch(new RegExp(`^${registry.address}/livemesh/pixelate@sha256:[0-9a-f]{64}$`));
    expect(info.Config.User).toBe('10001:10001');
    expect(info.Config.Env).toEqual(expect.arrayContaining([`NATS_URL=${RELAYED_NATS_URL}`, 'LIVEMESH_SERVICE=pixelate', 'PIXELATE_NOTE=built-by-e2e']));
    expect(info.HostConfig).toMatchObject({ NetworkMode: 'none', CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'], ReadonlyRootfs: true, Privileged: false });
    expect(info.HostConfig.Memory).toBeGreaterThan(0);
    expect(info.HostConfig.NanoCpus).toBeGreaterThan(0);
    expect(info.HostConfig.PidsLimit).toBeGreaterThan(0);
    // No Docker socket (nor anything else of the host) inside a worker: only the relay's socket
    // directory and the worker's own NATS credential, both read-only.
    // Sorted by target: `docker inspect` lists mounts in no fixed order.
    expect(info.Mounts.filter((m) => m.Type === 'bind').map((m) => ({ source: m.Source, target: m.Destination, rw: m.RW })).sort((a, b) => (a.target < b.target ? -1 : 1))).toEqual([
      { source: join(mesh.env.LIVEMESH_DATA_DIR!, 'bus-relay', 'socket'), target: '/run/livemesh-bus', rw: false },
      { source: expect.stringMatching(new RegExp(`/worker\\.pixelate\\.${info.Config.Hostname}\\.creds$`)), target: WORKER_CREDS_PATH, rw: false },
    ]);
    expect(info.Config.Env).toContain(`NATS_CREDS=${WORKER_CREDS_PATH}`);

    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    await waitForSegments(stream.playback.hls, 2, 90_000);
    expect(await encoder).toEqual({ code: 0, stderr: '' });
    await waitForSegments(stream.playback.hls, 5, 60_000);
    assertContinuous(await probeHls(stream.playback.hls), { size: { width: 320, height: 240 }, minSegments: 5 });
    // The segments were processed by the worker in that container: its heartbeat carries the container's host name.
    // Heartbeats come every few seconds: wait for the one that counts the last segments.
    const beats = await waitFor('a heartbeat counting 5 processed segments', 20_000, async () => {
      const now = await heartbeats(bus, 'pixelate');
      return now.length === 1 && now[0]!.processed >= 5 ? now : undefined;
    }, { detail: () => mesh.apps.orchestrator.tail(30) });
    expect(beats.map((b) => b.host)).toEqual([info.Config.Hostname]);
    // Inside the container the stage ran on the warm media engine the base image carries.
    const logs = (await d.getContainer(c!.Id).logs({ stdout: true, stderr: true })).toString('utf8');
    expect(logs).toMatch(/consuming lm\.seg\.pixelate\.> .*warm media engine/);
    // The start instruction's parameters reached the container (its environment) and the worker in it (what it logged at start, LOG_LEVEL=debug).
    expect(info.Config.Env).toContain(`LIVEMESH_START_PARAMS=${JSON.stringify(START_PARAMS)}`);
    const said = logs.match(/service=pixelate worker=\S+ startParams=(\{.*\})/);
    expect(said).not.toBeNull();
    expect(JSON.parse(said![1]!)).toEqual(START_PARAMS);
  }, 180_000);

  it('gives a worker no network: only loopback inside, loopback ports of the host out of reach, the bus through the relay', async () => {
    const [c] = await containersOf(d, 'pixelate');
    // A port on the host's loopback that a worker on the host network would reach.
    const accepted: net.Socket[] = [];
    const listener = net.createServer((s) => accepted.push(s.destroy()));
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as net.AddressInfo).port;
    try {
      const probe = `
        const net = require('node:net');
        const ifaces = require('node:fs').readFileSync('/proc/net/dev', 'utf8').split('\\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean);
        const tryConnect = (opts) => new Promise((resolve) => {
          const s = net.createConnection(opts, () => { s.destroy(); resolve('connected'); });
          s.setTimeout(3000, () => { s.destroy(); resolve('timeout'); });
          s.on('error', (e) => resolve(e.code));
        });
        (async () => console.log(JSON.stringify({ ifaces, hostPort: await tryConnect({ host: '127.0.0.1', port: ${port} }), relay: await tryConnect({ path: '/run/livemesh-bus/nats.sock' }) })))();
      `;
      const r = await execIn(d, c!.Id, ['node', '-e', probe]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(r.stdout)).toEqual({ ifaces: ['lo'], hostPort: 'ECONNREFUSED', relay: 'connected' });
      expect(accepted).toHaveLength(0);
    } finally {
      listener.close();
    }
    // The worker is on the bus all the same: its heartbeat is fresh.
    const [beat] = await heartbeats(bus, 'pixelate');
    expect(Date.now() - Date.parse(beat!.at)).toBeLessThan(15_000);
  }, 60_000);

  it('reuses the running container for a second stream', async () => {
    const before = await containersOf(d, 'pixelate');
    const stream = await mesh.startStream({ id: 'dk2', stages: [{ service: 'pixelate', params: PIXELATE }] });
    await mesh.apps.orchestrator.waitForLine(/streamId=dk2 service=pixelate containerId=\S+ reused/, 30_000);
    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    await waitForSegments(stream.playback.hls, 3, 90_000);
    await encoder;
    const after = await containersOf(d, 'pixelate');
    if (after.map((c) => c.Id).join() !== before.map((c) => c.Id).join()) {
      throw new Error(`the container was not reused: ${before.map((c) => c.Id.slice(0, 12))} -> ${after.map((c) => c.Id.slice(0, 12))}; the orchestrator said:\n${mesh.apps.orchestrator.lines.filter((l) => /ContainerRuntime|pixelate/.test(l)).slice(-40).join('\n')}`);
    }
  }, 180_000);

  it('scales to 2 containers that share the work of a stream', async () => {
    const res = await mesh.api('POST', '/api/services/pixelate/scale', { replicas: 2 });
    expect(res.status).toBe(200);
    expect(res.body.instances).toHaveLength(2);
    const names = (await containersOf(d, 'pixelate')).map((c) => c.Names[0]!.replace(/^\//, ''));
    expect(names).toHaveLength(2);
    await waitFor('heartbeats from both containers', 60_000, async () => (await heartbeats(bus, 'pixelate')).filter((b) => names.includes(b.host)).length === 2);
    const before = new Map((await heartbeats(bus, 'pixelate')).map((b) => [b.host, b.processed]));

    const stream = await mesh.startStream({ id: 'dk3', stages: [{ service: 'pixelate', params: PIXELATE }] });
    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    await waitForSegments(stream.playback.hls, 2, 90_000);
    await encoder;
    await waitForSegments(stream.playback.hls, 5, 60_000);
    // Heartbeats come every few seconds: wait until both counters have moved.
    await waitFor('both containers to have processed segments of dk3', 30_000, async () => {
      const now = await heartbeats(bus, 'pixelate');
      return names.every((n) => (now.find((b) => b.host === n)?.processed ?? 0) > (before.get(n) ?? 0));
    });
    assertContinuous(await probeHls(stream.playback.hls), { size: { width: 320, height: 240 }, minSegments: 5 });
  }, 180_000);

  it('replaces a killed container and loses no segment', async () => {
    const stream = await mesh.startStream({ id: 'dk4', stages: [{ service: 'pixelate', params: PIXELATE }] });
    const out = collectOutputSeqs(bus, 'dk4');
    try {
      const before = await containersOf(d, 'pixelate');
      expect(before).toHaveLength(2);
      const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
      await waitFor('the first finished segment of dk4', 60_000, () => out.seqs.size > 0);
      // Kill a worker in the middle of a segment (its ffmpeg is running), so it dies holding unacked work.
      const victim = await busyContainer(d, before, 60_000);
      await d.getContainer(victim.Id).kill({ signal: 'SIGKILL' });
      const replaced = await waitFor('a replacement container', 60_000, async () => {
        const now = await containersOf(d, 'pixelate');
        return now.length === 2 && !now.some((c) => c.Id === victim.Id) ? now : undefined;
      });
      const kept = replaced.filter((c) => before.some((b) => b.Id === c.Id));
      if (kept.length !== 1) {
        // Say why the other original went too: the runtime's lines from the first replacement on (with a dead container's last output).
        const lines = mesh.apps.orchestrator.lines;
        const why = lines.slice(Math.max(0, lines.findIndex((l) => /replacing it/.test(l)))).slice(0, 80).join('\n');
        throw new Error(`expected 1 of the original containers to survive the kill of ${victim.Id.slice(0, 12)}, found ${kept.length}; the orchestrator said:\n${why}`);
      }
      await mesh.apps.orchestrator.waitForLine(new RegExp(`containerId=${victim.Id.slice(0, 12)} .*replacing it`), 10_000);
      expect(await encoder).toEqual({ code: 0, stderr: '' });
      // The segment the killed worker held comes back after the ack wait (STAGE_ACK_WAIT_MS, 2 s
      // here) and another replica processes it, soon enough for delivery to keep the playlist whole.
      await waitFor('every segment of dk4 on its output subject', 90_000, () => {
        const max = Math.max(...out.seqs);
        return out.seqs.size >= 5 && out.seqs.size === max + 1;
      });
      await waitForSegments(stream.playback.hls, 5, 30_000);
      assertContinuous(await probeHls(stream.playback.hls), { size: { width: 320, height: 240 }, minSegments: 5 });
    } finally {
      out.stop();
    }
  }, 240_000);

  it('needed no Docker API section outside the list docs/security.md gives for a socket proxy', async () => {
    if (!proxy) return;
    // The proxy does refuse what is not listed, so an empty refusal list means something.
    const refusedBefore = [...proxy.refused];
    expect((await fetch(`${proxy.host.replace('tcp:', 'http:')}/v1.41/volumes`)).status).toBe(403);
    expect(proxy.refused).toEqual([...refusedBefore, 'GET /volumes']);
    expect(refusedBefore).toEqual([]);
    expect(proxy.served).toEqual(expect.arrayContaining(['POST /containers/create', 'GET /events', 'GET /containers/json']));
  });
});
