import type Docker from 'dockerode';
import { RELAY_SOCKET_NAME } from '@livemesh/bus';
import { ConfigError, type WorkerEnvironment } from '@livemesh/contracts';
import { toEnvList, type ContainerLimits } from './docker.labels.js';
import { IMAGE_USER } from './image.base.js';

/**
 * How worker containers are made, as pure functions of what the runtimes decided, so every
 * isolation setting is unit-tested in one place (container.options.spec.ts).
 */

/** WORKER_NETWORK's default: no network at all; the bus comes through the relay socket. */
export const DEFAULT_WORKER_NETWORK = 'none';

/** Where the relay socket's directory is mounted inside a worker container (read-only). */
export const BUS_MOUNT = '/run/livemesh-bus';

/** NATS_URL of a worker on the relay. */
export const RELAYED_NATS_URL = `unix://${BUS_MOUNT}/${RELAY_SOCKET_NAME}`;

/** Where a worker's own NATS credential is mounted (read-only); NATS_CREDS points at it. */
export const WORKER_CREDS_PATH = '/run/livemesh/nats.creds';

/** The relay's socket directory on the host, mounted read-only. */
export interface WorkerBusMount {
  hostDir: string;
}

export interface WorkerContainer {
  name: string;
  image: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  limits: ContainerLimits;
  /** `none`, `host` or a network name. */
  network: string;
  /** Given when the worker reaches the bus through the relay (network `none`). */
  bus?: WorkerBusMount;
  /** This worker's own NATS credential file on the host, when the bus has authentication. */
  credsFile?: string;
}

/** The environment with NATS_URL pointing at the relay socket when there is one, and NATS_CREDS at the mounted credential. */
function envOf(w: WorkerContainer): string[] {
  const handOver: WorkerEnvironment = { ...(w.bus ? { NATS_URL: RELAYED_NATS_URL } : {}), ...(w.credsFile ? { NATS_CREDS: WORKER_CREDS_PATH } : {}) };
  return toEnvList({ ...w.env, ...handOver } as Record<string, string>);
}

/** The host paths a worker sees, all read-only: the relay's socket directory and its own credential. */
function mountsOf(w: WorkerContainer): Docker.MountSettings[] {
  return [
    ...(w.bus ? [{ Type: 'bind' as const, Source: w.bus.hostDir, Target: BUS_MOUNT, ReadOnly: true }] : []),
    ...(w.credsFile ? [{ Type: 'bind' as const, Source: w.credsFile, Target: WORKER_CREDS_PATH, ReadOnly: true }] : []),
  ];
}

/**
 * `POST /containers/create` of one worker (docker runtime): non-root, every capability dropped,
 * no-new-privileges, read-only root with a tmpfs /tmp, memory (no swap), CPU and PID limits, no
 * network unless the operator named one, and no host path but the relay directory and the worker's own credential.
 */
export function containerCreateOptions(w: WorkerContainer): Docker.ContainerCreateOptions {
  return {
    name: w.name,
    // The worker reports its host in its heartbeat: with the container's name there, a
    // heartbeat says which container it came from even on the host network.
    Hostname: w.name,
    Image: w.image,
    Env: envOf(w),
    Labels: w.labels,
    User: `${IMAGE_USER.uid}:${IMAGE_USER.gid}`,
    HostConfig: {
      NetworkMode: w.network,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'],
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=512m,mode=1777' },
      Mounts: mountsOf(w),
      Memory: w.limits.memoryBytes,
      MemorySwap: w.limits.memoryBytes,
      NanoCpus: w.limits.nanoCpus,
      PidsLimit: w.limits.pids,
      // The runtime replaces dead containers itself, so it sees every death and can back off.
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
    },
  };
}

/** A Docker secret (swarm) holding the NATS credential shared by every task of one service. */
export interface SwarmCredsSecret {
  id: string;
  name: string;
}

export type SwarmWorker = Omit<WorkerContainer, 'bus' | 'credsFile'> & {
  /** The service's NATS credential, when the bus has authentication: mounted at WORKER_CREDS_PATH on whichever node a task runs. */
  credsSecret?: SwarmCredsSecret;
};

/**
 * The task template of one worker service (swarm runtime), with the same isolation but for the
 * network: Swarm has no `none` network for services (`host`, or an overlay network), so
 * swarmNetworkOf refuses it and the relay is not used here. Swarm expands `{{...}}` in `name` per task.
 * The credential comes as a Docker secret, not a host path: Swarm hands it to the task on any node,
 * as a file readable by the image's user alone.
 */
export function swarmTaskTemplate(w: SwarmWorker, stopGraceSeconds: number): Record<string, unknown> {
  const secret = w.credsSecret;
  return {
    ContainerSpec: {
      Image: w.image,
      Env: toEnvList({ ...w.env, ...(secret ? ({ NATS_CREDS: WORKER_CREDS_PATH } satisfies WorkerEnvironment) : {}) }),
      ...(secret
        ? { Secrets: [{ SecretID: secret.id, SecretName: secret.name, File: { Name: WORKER_CREDS_PATH, UID: String(IMAGE_USER.uid), GID: String(IMAGE_USER.gid), Mode: 0o400 } }] }
        : {}),
      Labels: w.labels,
      Hostname: w.name,
      User: `${IMAGE_USER.uid}:${IMAGE_USER.gid}`,
      ReadOnly: true,
      Mounts: [{ Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 512 * 1024 * 1024, Mode: 0o1777 } }],
      CapabilityDrop: ['ALL'],
      // Honoured by engines from API 1.46 on; older ones ignore it (the user is non-root with no capabilities either way).
      Privileges: { NoNewPrivileges: true },
      StopGracePeriod: stopGraceSeconds * 1e9,
    },
    Resources: { Limits: { NanoCPUs: w.limits.nanoCpus, MemoryBytes: w.limits.memoryBytes, Pids: w.limits.pids } },
    RestartPolicy: { Condition: 'any', Delay: 1e9, MaxAttempts: 0 },
    Networks: [{ Target: w.network }],
  };
}

/**
 * WORKER_NETWORK of the swarm runtime. `none` (the default) is refused: Swarm finds no `none`
 * network for a service ("could not find the corresponding predefined swarm network"), and a
 * service without a network attachment lands on the engine's default bridge, which reaches the
 * host and beyond. So under swarm the operator chooses: `host` or an overlay network.
 */
export function swarmNetworkOf(network: string | undefined): string {
  const n = network ?? DEFAULT_WORKER_NETWORK;
  if (n === 'none') {
    throw new ConfigError('environment is invalid', [
      'WORKER_NETWORK: swarm services cannot run without a network; set it to host (one node: workers share its network and reach NATS on 127.0.0.1) or to an overlay network where NATS_URL resolves',
    ]);
  }
  return n;
}
