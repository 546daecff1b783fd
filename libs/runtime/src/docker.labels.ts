import { createHash } from 'node:crypto';
import { UnsafeServiceError, imageProblem, serviceEnvProblems, workerHandOver, type ServiceSpec, type WorkerEnvironment } from '@livemesh/contracts';
import type { ServiceInstance, StartInstruction } from './runtime.types.js';

/**
 * Labels on livemesh images, containers and Swarm services. The runtimes find their own
 * workloads by these alone, so an orchestrator that restarts adopts the containers it left.
 */
export const LABELS = {
  managed: 'livemesh.managed',
  service: 'livemesh.service',
  version: 'livemesh.version',
  /** base | app | service */
  role: 'livemesh.role',
  /** The service's environment and configuration as JSON (an image records what it was built with). */
  env: 'livemesh.env',
  config: 'livemesh.config',
  envHash: 'livemesh.env-hash',
  configHash: 'livemesh.config-hash',
  /** Hash of everything a container is created from: image, env, config, start parameters. */
  specHash: 'livemesh.spec-hash',
  /** Only the runtime that created a container stops it on close. */
  owner: 'livemesh.owner',
} as const;

/** JSON with sorted keys, so equal objects hash equally. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function hashOf(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

/** The image a service runs: its catalogue image, else the shared worker image (built-in services). */
export function imageOf(spec: ServiceSpec, defaultImage: string): string {
  return spec.run?.image ?? defaultImage;
}

/** The image reference to run: a pushed image is pinned by its digest, so a moved tag cannot change what runs. */
export function pinnedImage(spec: ServiceSpec, defaultImage: string): string {
  const image = imageOf(spec, defaultImage);
  if (!spec.run?.digest || image.includes('@')) return image;
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return `${colon > slash ? image.slice(0, colon) : image}@${spec.run.digest}`;
}

/**
 * Refuses a service whose env or image the operator did not allow (UnsafeServiceError). The
 * orchestrator checks at registration; this runs again where containers are made, so a catalogue
 * entry written straight into the bucket cannot set LD_PRELOAD or start an image from anywhere.
 */
export function assertRunnable(spec: ServiceSpec, opts: { defaultImage: string; imageRegistries: readonly string[] }): void {
  const problems = serviceEnvProblems(spec.env);
  const image = spec.run?.image === undefined ? undefined : imageProblem(spec.run.image, { registries: opts.imageRegistries, builtInImage: opts.defaultImage });
  if (image) problems.push(image);
  if (problems.length) throw new UnsafeServiceError(`service ${spec.name} may not run`, problems);
}

/**
 * The worker's environment inside a container: the runtime's (NATS_URL...), then the service's
 * own, then what identifies the start instruction. The image sets LIVEMESH_STAGE_MODULE itself;
 * a host path from the catalogue (`run.module`) means nothing inside a container.
 */
export function workerEnvironment(
  spec: ServiceSpec,
  startParams: StartInstruction['startParams'],
  base: WorkerEnvironment,
  workerId: string,
): Record<string, string> {
  return { ...base, ...(spec.env ?? {}), ...workerHandOver({ service: spec.name, workerId, startParams, config: spec.config }) } as Record<string, string>;
}

export function toEnvList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

export function workloadLabels(spec: ServiceSpec, image: string, startParams: StartInstruction['startParams'], owner: string): Record<string, string> {
  return {
    [LABELS.managed]: 'true',
    [LABELS.service]: spec.name,
    [LABELS.version]: spec.version,
    [LABELS.envHash]: hashOf(spec.env ?? {}),
    [LABELS.configHash]: hashOf(spec.config ?? {}),
    [LABELS.specHash]: hashOf({ image, env: spec.env ?? {}, config: spec.config ?? {}, startParams }),
    [LABELS.owner]: owner,
  };
}

/** Resource limits every worker container gets. */
export interface ContainerLimits {
  memoryBytes: number;
  nanoCpus: number;
  pids: number;
}

/** How the runtimes judge a worker from its heartbeat in `lm_workers`. */
export function heartbeatHealth(
  ageMs: number | undefined,
  staleMs: number,
): { state: ServiceInstance['state']; health: 'healthy' | 'no-heartbeat' | 'stale-heartbeat' } {
  if (ageMs === undefined) return { state: 'starting', health: 'no-heartbeat' };
  return ageMs <= staleMs ? { state: 'running', health: 'healthy' } : { state: 'running', health: 'stale-heartbeat' };
}
