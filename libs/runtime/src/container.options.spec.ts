import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { ConfigError, loadEnv } from '@livemesh/contracts';
import { BUS_MOUNT, RELAYED_NATS_URL, WORKER_CREDS_PATH, containerCreateOptions, swarmNetworkOf, swarmTaskTemplate, type WorkerContainer } from './container.options.js';
import { DockerRuntime, workerNetworkOf } from './docker.runtime.js';
import { WorkerBusRelay } from './worker.bus.relay.js';

const worker = (over: Partial<WorkerContainer> = {}): WorkerContainer => ({
  name: 'lm-pixelate-0a1b2c3d',
  image: '127.0.0.1:5000/livemesh/pixelate@sha256:' + 'a'.repeat(64),
  env: { NATS_URL: 'nats://127.0.0.1:4222', LIVEMESH_SERVICE: 'pixelate' },
  labels: { 'livemesh.managed': 'true' },
  limits: { memoryBytes: 256 * 1024 * 1024, nanoCpus: 500_000_000, pids: 128 },
  network: 'none',
  bus: { hostDir: '/srv/livemesh/bus-relay/socket' },
  ...over,
});

/** Every host path a spec hands the engine to mount, whatever the field. */
function hostPaths(spec: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key = ''): void => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    else if (typeof v === 'string' && (key === 'Source' || key === 'Binds' || key === 'Volumes' || key === 'VolumesFrom' || key === 'Devices')) out.push(v);
  };
  walk(spec);
  return out;
}

describe('worker container options', () => {
  it('runs a docker worker without a network, non-root, read-only, without capabilities or new privileges, within limits', () => {
    const o = containerCreateOptions(worker());
    expect(o.User).toBe('10001:10001');
    expect(o.HostConfig).toMatchObject({
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'],
      ReadonlyRootfs: true,
      Memory: 256 * 1024 * 1024,
      MemorySwap: 256 * 1024 * 1024,
      NanoCpus: 500_000_000,
      PidsLimit: 128,
      RestartPolicy: { Name: 'no' },
    });
    for (const k of ['Privileged', 'CapAdd', 'Binds', 'Devices', 'PortBindings', 'PidMode', 'IpcMode', 'UsernsMode', 'VolumesFrom', 'ExtraHosts']) expect(o.HostConfig).not.toHaveProperty(k);
  });

  it('mounts only the relay directory, read-only, and points NATS_URL at its socket; never the Docker socket', () => {
    const o = containerCreateOptions(worker());
    expect(o.HostConfig?.Mounts).toEqual([{ Type: 'bind', Source: '/srv/livemesh/bus-relay/socket', Target: BUS_MOUNT, ReadOnly: true }]);
    expect(hostPaths(o)).toEqual(['/srv/livemesh/bus-relay/socket']);
    expect(JSON.stringify(o)).not.toMatch(/docker\.sock/);
    expect(o.Env).toEqual([`NATS_URL=${RELAYED_NATS_URL}`, 'LIVEMESH_SERVICE=pixelate']);
    expect(RELAYED_NATS_URL).toBe('unix:///run/livemesh-bus/nats.sock');
  });

  it("mounts the worker's own NATS credential read-only beside the relay, and points NATS_CREDS at it", () => {
    const o = containerCreateOptions(worker({ credsFile: '/srv/livemesh/nats/creds/worker.pixelate.lm-pixelate-1.creds' }));
    expect(o.HostConfig?.Mounts).toEqual([
      { Type: 'bind', Source: '/srv/livemesh/bus-relay/socket', Target: BUS_MOUNT, ReadOnly: true },
      { Type: 'bind', Source: '/srv/livemesh/nats/creds/worker.pixelate.lm-pixelate-1.creds', Target: WORKER_CREDS_PATH, ReadOnly: true },
    ]);
    expect(hostPaths(o)).toEqual(['/srv/livemesh/bus-relay/socket', '/srv/livemesh/nats/creds/worker.pixelate.lm-pixelate-1.creds']);
    expect(o.Env).toContain(`NATS_CREDS=${WORKER_CREDS_PATH}`);
  });

  it('on a network the operator named, mounts nothing and keeps NATS_URL', () => {
    const o = containerCreateOptions(worker({ network: 'livemesh', bus: undefined }));
    expect(o.HostConfig?.NetworkMode).toBe('livemesh');
    expect(o.HostConfig?.Mounts).toEqual([]);
    expect(o.Env).toContain('NATS_URL=nats://127.0.0.1:4222');
  });

  it('gives a swarm task the same isolation on the network the operator chose, and refuses none', () => {
    const t = swarmTaskTemplate(worker({ network: 'host', bus: undefined }), 15) as { ContainerSpec: Record<string, unknown>; Resources: unknown; Networks: unknown };
    expect(t.ContainerSpec).toMatchObject({ User: '10001:10001', ReadOnly: true, CapabilityDrop: ['ALL'], Privileges: { NoNewPrivileges: true } });
    expect(t.ContainerSpec).not.toHaveProperty('CapabilityAdd');
    expect(t.Resources).toEqual({ Limits: { NanoCPUs: 500_000_000, MemoryBytes: 256 * 1024 * 1024, Pids: 128 } });
    expect(t.Networks).toEqual([{ Target: 'host' }]);
    expect(t.ContainerSpec.Mounts).toEqual([{ Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 512 * 1024 * 1024, Mode: 0o1777 } }]);
    expect(hostPaths(t)).toEqual([]);
    expect(JSON.stringify(t)).not.toMatch(/docker\.sock/);
    expect(t.ContainerSpec.Env).toContain('NATS_URL=nats://127.0.0.1:4222');
    expect(() => swarmNetworkOf(undefined)).toThrow(/swarm services cannot run without a network/);
    expect(swarmNetworkOf('lm-overlay')).toBe('lm-overlay');
  });

  it("hands every task of a swarm service the service's NATS credential as a secret file only the image's user reads, and no host path", () => {
    const plain = swarmTaskTemplate(worker({ network: 'host', bus: undefined }), 15) as { ContainerSpec: Record<string, unknown> };
    expect(plain.ContainerSpec).not.toHaveProperty('Secrets');
    expect((plain.ContainerSpec.Env as string[]).some((e) => e.startsWith('NATS_CREDS='))).toBe(false);
    const t = swarmTaskTemplate({ ...worker({ network: 'host', bus: undefined }), credsSecret: { id: 'sec123', name: 'lm-pixelate-nats-creds-abc' } }, 15) as { ContainerSpec: Record<string, unknown> };
    expect(t.ContainerSpec.Secrets).toEqual([
      { SecretID: 'sec123', SecretName: 'lm-pixelate-nats-creds-abc', File: { Name: WORKER_CREDS_PATH, UID: '10001', GID: '10001', Mode: 0o400 } },
    ]);
    expect(t.ContainerSpec.Env).toContain(`NATS_CREDS=${WORKER_CREDS_PATH}`);
    expect(t.ContainerSpec.Env).toContain('NATS_URL=nats://127.0.0.1:4222');
    expect(hostPaths(t)).toEqual([]);
  });

  it('defaults WORKER_NETWORK to none, which needs the relay; other networks do without it', () => {
    const relay = {} as WorkerBusRelay;
    expect(loadEnv({}).WORKER_NETWORK).toBe('none');
    expect(workerNetworkOf({ busRelay: relay })).toBe('none');
    expect(() => workerNetworkOf({})).toThrow(ConfigError);
    expect(() => workerNetworkOf({ network: 'host', busRelay: relay })).toThrow(/for "none" only/);
    expect(workerNetworkOf({ network: 'host' })).toBe('host');
  });
});

describe('the docker runtime and its bus relay', () => {
  it('serves the relay socket as soon as the runtime exists (adopted workers need it before any new container) and stops it on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-runtime-relay-'));
    const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
    const docker = { listContainers: async () => [] } as unknown as Docker;
    const busRelay = new WorkerBusRelay({ dataDir: dir, natsUrl: 'nats://127.0.0.1:4222', logger });
    const runtime = new DockerRuntime({ docker, env: {}, defaultImage: 'w', imageRegistries: [], limits: worker().limits, idleGraceMs: 1000, logger, busRelay });
    const sock = join(dir, 'bus-relay', 'socket', 'nats.sock');
    try {
      let found = false;
      for (let i = 0; i < 100 && !found; i++) {
        found = await stat(sock).then((s) => s.isSocket(), () => false);
        if (!found) await new Promise((r) => setTimeout(r, 10));
      }
      expect(found).toBe(true);
      await runtime.close();
      // Closed: nothing listens any more.
      const answer = await new Promise<string>((r) => createConnection({ path: sock }).on('connect', () => r('connected')).on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error')));
      expect(answer).toMatch(/^(ENOENT|ECONNREFUSED)$/);
    } finally {
      await runtime.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
