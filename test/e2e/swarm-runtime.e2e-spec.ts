// The swarm runtime on a real single-node Swarm (the suite joins the engine to one when it is
// not in a swarm, and leaves again): the example service pushed to a registry runs as a
// replicated Swarm service whose tasks process a live stream into continuous HLS; a second
// stream reuses it; scaling sets the replicas; a new version rolls out task by task.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Bus } from '@livemesh/bus';
import { LABELS, WORKER_CREDS_PATH, buildServiceImage, pushImage, swarmServiceName } from '@livemesh/runtime';
import { describeDocker, dockerHost } from '../support/docker.js';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { REPO_ROOT } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { WORKER_IMAGE, buildCheckout, buildWorkerImage, cli, docker, heartbeats, useRegistry, type Registry } from './docker-fixtures.js';

const PIXELATE = { x: 0, y: 0, w: 96, h: 48, blockSize: 12 };

interface TaskLike {
  ID: string;
  Status?: { State?: string };
  Spec?: { ContainerSpec?: { Image?: string } };
}

describeDocker('services on Docker Swarm (LIVEMESH_RUNTIME=swarm)', () => {
  let d: Docker;
  let registry: Registry;
  let mesh: Mesh;
  let bus: Bus;
  let dir: string;
  let clip: string;
  let joined = false;

  const service = async () => (await d.listServices({ filters: { label: [`${LABELS.service}=pixelate`] } }))[0];
  const runningTasks = async (): Promise<TaskLike[]> => {
    const s = await service();
    if (!s) return [];
    const tasks = (await d.listTasks({ filters: { service: [s.ID!], 'desired-state': ['running'] } })) as TaskLike[];
    return tasks.filter((t) => t.Status?.State === 'running');
  };
  const removeService = async () => {
    const s = await service();
    if (s) await d.getService(s.ID!).remove().catch(() => undefined);
  };

  beforeAll(async () => {
    d = docker();
    buildCheckout();
    try {
      await d.swarmInspect();
    } catch {
      await d.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' });
      joined = true;
    }
    await removeService();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-swarm-e2e-'));
    [registry, clip] = await Promise.all([useRegistry(), generateClip({ seconds: 10, width: 320, height: 240, fps: 25, out: join(dir, 'src.flv') }), buildWorkerImage(d)]);
    mesh = await startMesh({ LIVEMESH_RUNTIME: 'swarm', DOCKER_HOST: dockerHost(), LIVEMESH_WORKER_IMAGE: WORKER_IMAGE, LIVEMESH_IMAGE_REGISTRIES: `local,${registry.address}`, IDLE_GRACE_SECONDS: '60', WORKER_NETWORK: 'host' });
    bus = await mesh.connectBus('swarm-e2e');
    const build = cli(['--api', mesh.apiUrl, 'service', 'build', 'examples/pixelate', '--push', registry.address, '--worker-image', WORKER_IMAGE], { DOCKER_HOST: dockerHost() });
    const { code } = await build.exited;
    if (code !== 0) throw new Error(`service build failed:\n${build.tail(30)}`);
  }, 300_000);

  afterAll(async () => {
    await bus?.close();
    await mesh?.stop();
    if (d) {
      await removeService();
      if (joined) await d.swarmLeave({ force: true }).catch(() => undefined);
    }
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('runs the chain as a Swarm service and delivers continuous HLS from its tasks', async () => {
    const stream = await mesh.startStream({ id: 'sw1', stages: [{ service: 'pixelate', params: PIXELATE }] });
    const svc = (await d.getService((await service())!.ID!).inspect()) as { Spec: { Name: string; Mode: { Replicated: { Replicas: number } }; TaskTemplate: { ContainerSpec: Record<string, unknown>; Resources: { Limits: Record<string, unknown> }; Networks: unknown[] } } };
    expect(svc.Spec.Name).toBe(swarmServiceName('pixelate'));
    expect(svc.Spec.Mode.Replicated.Replicas).toBe(1);
    const tt = svc.Spec.TaskTemplate;
    expect(tt.ContainerSpec.Image).toMatch(new RegExp(`^${registry.address}/livemesh/pixelate@sha256:[0-9a-f]{64}$`));
    expect(tt.ContainerSpec).toMatchObject({ User: '10001:10001', ReadOnly: true, CapabilityDrop: ['ALL'] });
    expect(tt.Resources.Limits).toMatchObject({ NanoCPUs: expect.any(Number), MemoryBytes: expect.any(Number), Pids: expect.any(Number) });
    expect(tt.Networks).toEqual([expect.objectContaining({ Target: expect.any(String) })]);
    // The bus has authentication: the tasks share the service's credential, a Docker secret, not a host path.
    expect(tt.ContainerSpec.Secrets).toEqual([expect.objectContaining({ SecretName: expect.stringMatching(/^lm-pixelate-nats-creds-/), File: expect.objectContaining({ Name: WORKER_CREDS_PATH, UID: '10001', Mode: 0o400 }) })]);
    expect(tt.ContainerSpec.Env).toContain(`NATS_CREDS=${WORKER_CREDS_PATH}`);

    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    await waitForSegments(stream.playback.hls, 2, 90_000);
    expect(await encoder).toEqual({ code: 0, stderr: '' });
    await waitForSegments(stream.playback.hls, 4, 60_000);
    assertContinuous(await probeHls(stream.playback.hls), { size: { width: 320, height: 240 }, minSegments: 4 });
    // The worker that processed them is the task's container: its host name is the task's.
    const [task] = await runningTasks();
    const host = `${swarmServiceName('pixelate')}-1-${task!.ID}`;
    // Heartbeats come every few seconds: wait for the one that counts the last segments.
    const beats = await waitFor('a heartbeat counting 4 processed segments', 20_000, async () => {
      const now = await heartbeats(bus, 'pixelate');
      return now.length === 1 && now[0]!.processed >= 4 ? now : undefined;
    });
    expect(beats.map((b) => b.host)).toEqual([host]);
  }, 180_000);

  it('reuses the Swarm service for a second stream and scales it to 2 tasks', async () => {
    await mesh.startStream({ id: 'sw2', stages: [{ service: 'pixelate', params: PIXELATE }] });
    await mesh.apps.orchestrator.waitForLine(/streamId=sw2 service=pixelate containerId=\S+ reused/, 30_000);
    const res = await mesh.api('POST', '/api/services/pixelate/scale', { replicas: 2 });
    expect(res.status).toBe(200);
    expect(res.body.instances).toHaveLength(2);
    expect(await runningTasks()).toHaveLength(2);
  }, 180_000);

  it('rolls a new version of the service out to every task and keeps the chain running', async () => {
    const before = (await runningTasks()).map((t) => t.ID);
    // Version 1.0.1 of the same service, pushed, then the catalogue entry updated as a rebuild would.
    const built = await buildServiceImage(d, { dir: join(REPO_ROOT, 'examples/pixelate'), name: 'pixelate', version: '1.0.1', workerImage: WORKER_IMAGE, registry: registry.address, main: 'dist/index.js' });
    const digest = await pushImage(d, built.tag);
    const { body: spec } = await mesh.api('GET', '/api/services/pixelate');
    const put = await mesh.api('PUT', '/api/services/pixelate', { ...spec, version: '1.0.1', run: { image: built.tag, digest } });
    expect(put.status).toBe(200);

    // The next start instruction finds the service on the old version and rolls it forward.
    const stream = await mesh.startStream({ id: 'sw3', stages: [{ service: 'pixelate', params: PIXELATE }] });
    const pinned = `${registry.address}/livemesh/pixelate@${digest}`;
    const tasks = await waitFor('2 running tasks of version 1.0.1', 120_000, async () => {
      const now = await runningTasks();
      return now.length === 2 && now.every((t) => t.Spec?.ContainerSpec?.Image === pinned) ? now : undefined;
    });
    expect(tasks.some((t) => before.includes(t.ID))).toBe(false);
    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    await waitForSegments(stream.playback.hls, 2, 90_000);
    await encoder;
    await waitForSegments(stream.playback.hls, 4, 60_000);
    assertContinuous(await probeHls(stream.playback.hls), { size: { width: 320, height: 240 }, minSegments: 4 });
  }, 240_000);
});
