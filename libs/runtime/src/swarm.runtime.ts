import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { RuntimeError, ValidationFailedError, type ServiceSpec } from '@livemesh/contracts';
import { LABELS, assertRunnable, heartbeatHealth, imageOf, pinnedImage, workerEnvironment, workloadLabels } from './docker.labels.js';
import { heartbeatAges } from './docker.heartbeats.js';
import type { DockerRuntimeOptions } from './docker.runtime.js';
import { swarmNetworkOf, swarmTaskTemplate, type SwarmCredsSecret } from './container.options.js';
import type { ContainerRuntime, ServiceInstance, StartInstruction } from './runtime.types.js';

export type SwarmRuntimeOptions = Omit<DockerRuntimeOptions, 'reconcileIntervalMs' | 'busRelay' | 'workerCredentials'> & {
  /** How long ensure() and scale() wait for tasks to run, ms. */
  convergeTimeoutMs?: number;
  /**
   * Mints the NATS credential shared by every task of one service (Swarm starts the tasks, so they
   * cannot get one each) and returns its file; it reaches the tasks as a Docker secret.
   */
  serviceCredentials?: (service: string) => Promise<string>;
};

interface SwarmTask {
  ID: string;
  Slot?: number;
  NodeID?: string;
  CreatedAt?: string;
  DesiredState?: string;
  Status?: { State?: string; Timestamp?: string; Message?: string; Err?: string; ContainerStatus?: { ContainerID?: string } };
  Spec?: { ContainerSpec?: { Image?: string } };
}

/** Marks the Docker secrets that hold a service's NATS credential. */
const CREDS_LABEL = 'livemesh.nats-creds';

/** The one Swarm service name of a livemesh service. */
export function swarmServiceName(service: string): string {
  return `lm-${service}`;
}

/**
 * The same interface over Swarm services, so a chain runs across the nodes of a cluster: one
 * replicated Swarm service per livemesh service, found by its labels. Swarm itself replaces
 * tasks that die and places them on nodes; scaling sets the replica count; a catalogue change
 * (new image version, environment) is rolled out task by task, new before old, and rolled back
 * if the new tasks fail. Images must come from a registry every node can pull from.
 */
export class SwarmRuntime implements ContainerRuntime {
  readonly kind = 'swarm' as const;
  private readonly docker: Docker;
  private readonly releaseTimers = new Map<string, NodeJS.Timeout>();
  private readonly owner = randomBytes(6).toString('hex');
  private readonly startParams = new Map<string, StartInstruction['startParams']>();
  private readonly heartbeatStaleMs: number;

  private readonly network: string;

  constructor(private readonly opts: SwarmRuntimeOptions) {
    this.docker = opts.docker;
    this.network = swarmNetworkOf(opts.network);
    this.heartbeatStaleMs = opts.heartbeatStaleMs ?? 30_000;
  }

  async ensure(instr: StartInstruction): Promise<{ instance: ServiceInstance; reused: boolean }> {
    const spec = instr.service;
    assertRunnable(spec, this.opts);
    this.cancelRelease(spec.name);
    this.startParams.set(spec.name, instr.startParams);
    const existing = await this.find(spec.name);
    if (!existing) {
      await this.create(spec, instr.startParams, Math.max(1, spec.minReplicas));
      return { instance: await this.firstRunning(spec.name), reused: false };
    }
    const replicas = existing.Spec?.Mode?.Replicated?.Replicas ?? 0;
    const changed = existing.Spec?.Labels?.[LABELS.specHash] !== this.labels(spec, instr.startParams)[LABELS.specHash];
    if (changed) await this.rollOut(spec, instr.startParams, Math.max(replicas, 1, spec.minReplicas));
    else if (replicas < 1) await this.setReplicas(spec.name, Math.max(1, spec.minReplicas));
    const running = (await this.list(spec.name)).find((i) => i.state !== 'exited');
    if (running && !changed && replicas > 0) {
      this.opts.logger.log(`service=${spec.name} reusing swarm service ${swarmServiceName(spec.name)} (${replicas} replica(s))`);
      return { instance: running, reused: true };
    }
    return { instance: await this.firstRunning(spec.name), reused: replicas > 0 };
  }

  async scale(service: ServiceSpec, replicas: number): Promise<ServiceInstance[]> {
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > service.maxReplicas) {
      throw new ValidationFailedError(`cannot scale ${service.name}`, [`replicas: must be an integer from 0 to ${service.maxReplicas} (the service's maxReplicas)`]);
    }
    if (!(await this.find(service.name))) await this.create(service, this.startParams.get(service.name) ?? service.startParams ?? {}, replicas);
    else await this.setReplicas(service.name, replicas);
    this.opts.logger.log(`service=${service.name} scaling to ${replicas} task(s)`);
    await this.converge(service.name, replicas);
    return (await this.list(service.name)).filter((i) => i.state !== 'exited');
  }

  /**
   * Replaces the running tasks with ones of the catalogue's current spec (a new image version,
   * environment or configuration), one at a time, starting each new task before stopping an old one.
   */
  async rollOut(spec: ServiceSpec, startParams: StartInstruction['startParams'] = spec.startParams ?? {}, replicas?: number): Promise<void> {
    const svc = await this.find(spec.name);
    if (!svc) throw new RuntimeError(`service ${spec.name} has no swarm service to update`);
    const next = await this.serviceSpec(spec, startParams, replicas ?? svc.Spec?.Mode?.Replicated?.Replicas ?? 1);
    this.opts.logger.log(`service=${spec.name} rolling out version ${spec.version} (${imageOf(spec, this.opts.defaultImage)})`);
    try {
      await this.docker.getService(svc.ID).update({ ...next, version: svc.Version?.Index } as never);
    } catch (e) {
      throw new RuntimeError(`service ${spec.name}: rolling update failed to start: ${(e as Error).message}`, { cause: e });
    }
  }

  async list(service?: string): Promise<ServiceInstance[]> {
    const services = await this.docker.listServices({ filters: { label: [`${LABELS.managed}=true`, ...(service ? [`${LABELS.service}=${service}`] : [])] } });
    const beats = await heartbeatAges(this.opts.heartbeats, this.opts.logger);
    const out: ServiceInstance[] = [];
    for (const svc of services) {
      const name = svc.Spec?.Labels?.[LABELS.service];
      if (!name) continue;
      const tasks = (await this.docker.listTasks({ filters: { service: [svc.ID], 'desired-state': ['running'] } })) as SwarmTask[];
      for (const t of tasks) {
        const hostname = `${svc.Spec?.Name}-${t.Slot}-${t.ID}`;
        const beat = beats?.get(hostname);
        const engine = t.Status?.State ?? 'unknown';
        const hb = heartbeatHealth(beat?.ageMs, this.heartbeatStaleMs);
        const state: ServiceInstance['state'] = engine === 'running' ? hb.state : ['failed', 'rejected', 'shutdown', 'complete', 'orphaned', 'remove'].includes(engine) ? 'exited' : 'starting';
        const detail: Record<string, string | number> = { taskId: t.ID, node: t.NodeID ?? '', slot: t.Slot ?? 0, engineState: engine, image: t.Spec?.ContainerSpec?.Image ?? '', health: engine === 'running' ? hb.health : engine };
        const containerId = t.Status?.ContainerStatus?.ContainerID;
        if (containerId) detail.containerId = containerId.slice(0, 12);
        if (beat) Object.assign(detail, { heartbeatAgeMs: beat.ageMs, processed: beat.processed });
        out.push({ id: hostname, service: name, state, startedAt: t.CreatedAt ?? new Date(0).toISOString(), detail });
      }
    }
    return out;
  }

  async release(service: string): Promise<void> {
    const svc = await this.find(service);
    if (!svc) return;
    this.cancelRelease(service);
    const min = Number(svc.Spec?.Labels?.['livemesh.min-replicas'] ?? 0);
    this.releaseTimers.set(
      service,
      setTimeout(() => {
        this.releaseTimers.delete(service);
        this.opts.logger.log(`service=${service} idle for ${this.opts.idleGraceMs} ms: keeping ${min} task(s)`);
        void this.setReplicas(service, min).catch((e: Error) => this.opts.logger.error(`service=${service} reclaim failed: ${e.message}`));
      }, this.opts.idleGraceMs).unref(),
    );
  }

  /** Removes the swarm services this runtime created; ones it adopted stay for the next orchestrator. */
  async close(): Promise<void> {
    for (const t of this.releaseTimers.values()) clearTimeout(t);
    const mine = await this.docker.listServices({ filters: { label: [`${LABELS.managed}=true`, `${LABELS.owner}=${this.owner}`] } });
    await Promise.all(
      mine.map((s) =>
        this.docker
          .getService(s.ID)
          .remove()
          .catch((e: Error) => this.opts.logger.warn(`swarm service ${s.Spec?.Name} removal failed: ${e.message}`)),
      ),
    );
    await this.removeCredsSecrets({ owner: this.owner });
    await this.opts.heartbeats?.close();
  }

  /** A fresh credential of the service in a new Docker secret (secrets cannot change); older ones go once no task uses them. */
  private async credsSecret(service: string): Promise<SwarmCredsSecret | undefined> {
    if (!this.opts.serviceCredentials) return undefined;
    await this.removeCredsSecrets({ service });
    const name = `${swarmServiceName(service)}-nats-creds-${randomBytes(4).toString('hex')}`;
    try {
      const data = await readFile(await this.opts.serviceCredentials(service));
      const secret = (await this.docker.createSecret({ Name: name, Data: data.toString('base64'), Labels: { [LABELS.managed]: 'true', [LABELS.service]: service, [LABELS.owner]: this.owner, [CREDS_LABEL]: 'true' } })) as { id: string };
      return { id: secret.id, name };
    } catch (e) {
      throw new RuntimeError(`service ${service}: cannot hand its tasks a NATS credential (docker secret ${name}): ${(e as Error).message}`, { cause: e });
    }
  }

  /** Removes this runtime's credential secrets of a service (or of this runtime); the engine keeps those a task still uses. */
  private async removeCredsSecrets(by: { service: string } | { owner: string }): Promise<void> {
    if (!this.opts.serviceCredentials) return;
    const label = 'service' in by ? `${LABELS.service}=${by.service}` : `${LABELS.owner}=${by.owner}`;
    const secrets = (await this.docker.listSecrets({ filters: { label: [`${CREDS_LABEL}=true`, label] } }).catch(() => [])) as unknown as { ID: string }[];
    await Promise.all(secrets.map((s) => this.docker.getSecret(s.ID).remove().catch(() => undefined)));
  }

  private async create(spec: ServiceSpec, startParams: StartInstruction['startParams'], replicas: number): Promise<void> {
    const body = await this.serviceSpec(spec, startParams, replicas);
    try {
      await this.docker.createService(body as Docker.CreateServiceOptions);
    } catch (e) {
      // Two ensures raced: the other one created it, which is what this one wanted.
      if ((e as { statusCode?: number }).statusCode === 409) return;
      throw new RuntimeError(`service ${spec.name}: cannot create swarm service: ${(e as Error).message}`, { cause: e });
    }
    this.opts.logger.log(`service=${spec.name} created swarm service ${swarmServiceName(spec.name)} with ${replicas} replica(s) of ${imageOf(spec, this.opts.defaultImage)}`);
  }

  private labels(spec: ServiceSpec, startParams: StartInstruction['startParams']): Record<string, string> {
    return { ...workloadLabels(spec, pinnedImage(spec, this.opts.defaultImage), startParams, this.owner), 'livemesh.min-replicas': String(spec.minReplicas) };
  }

  private async serviceSpec(spec: ServiceSpec, startParams: StartInstruction['startParams'], replicas: number): Promise<Record<string, unknown>> {
    // Every create and roll-out goes through here: nothing the operator did not allow reaches the swarm.
    assertRunnable(spec, this.opts);
    const name = swarmServiceName(spec.name);
    // Swarm expands these per task: each replica gets a host name (and worker id) of its own.
    const taskId = '{{.Service.Name}}-{{.Task.Slot}}-{{.Task.ID}}';
    const labels = this.labels(spec, startParams);
    const credsSecret = await this.credsSecret(spec.name);
    const worker = { name: taskId, image: pinnedImage(spec, this.opts.defaultImage), env: workerEnvironment(spec, startParams, this.opts.env, taskId), labels, limits: this.opts.limits, network: this.network, ...(credsSecret ? { credsSecret } : {}) };
    return {
      Name: name,
      Labels: labels,
      TaskTemplate: swarmTaskTemplate(worker, this.opts.stopGraceSeconds ?? 15),
      Mode: { Replicated: { Replicas: replicas } },
      UpdateConfig: { Parallelism: 1, Delay: 0, Order: 'start-first', FailureAction: 'rollback', Monitor: 5e9 },
      RollbackConfig: { Parallelism: 1, Order: 'start-first', FailureAction: 'pause' },
    };
  }

  private async find(service: string): Promise<Docker.Service & { ID: string; Version?: { Index?: number }; Spec?: { Name?: string; Labels?: Record<string, string>; Mode?: { Replicated?: { Replicas?: number } } } } | undefined> {
    const list = await this.docker.listServices({ filters: { label: [`${LABELS.managed}=true`, `${LABELS.service}=${service}`] } });
    return list[0] as never;
  }

  private async setReplicas(service: string, replicas: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const svc = await this.find(service);
      if (!svc) return;
      const inspected = (await this.docker.getService(svc.ID).inspect()) as { Version: { Index: number }; Spec: Record<string, unknown> & { Mode?: unknown } };
      try {
        await this.docker.getService(svc.ID).update({ ...inspected.Spec, Mode: { Replicated: { Replicas: replicas } }, version: inspected.Version.Index } as never);
        return;
      } catch (e) {
        // "update out of sequence": someone else changed the service in between; read it again.
        if (attempt < 3 && /out of sequence/i.test((e as Error).message)) continue;
        throw new RuntimeError(`service ${service}: cannot set ${replicas} replica(s): ${(e as Error).message}`, { cause: e });
      }
    }
  }

  private async firstRunning(service: string): Promise<ServiceInstance> {
    const list = await this.converge(service, 1);
    return list.find((i) => i.state !== 'exited')!;
  }

  /** Waits until at least `replicas` tasks of the service run, or says why they do not. */
  private async converge(service: string, replicas: number): Promise<ServiceInstance[]> {
    const deadline = Date.now() + (this.opts.convergeTimeoutMs ?? 120_000);
    let last: ServiceInstance[] = [];
    while (Date.now() < deadline) {
      last = await this.list(service);
      const running = last.filter((i) => i.detail?.engineState === 'running');
      if (running.length >= replicas) return running;
      await new Promise((r) => setTimeout(r, 500));
    }
    const svc = await this.find(service);
    const tasks = svc ? ((await this.docker.listTasks({ filters: { service: [svc.ID] } })) as SwarmTask[]) : [];
    const why = tasks.map((t) => t.Status?.Err ?? t.Status?.Message).filter(Boolean).slice(-3).join('; ');
    throw new RuntimeError(`service ${service}: ${replicas} task(s) not running after ${this.opts.convergeTimeoutMs ?? 120_000} ms (${last.length} known${why ? `: ${why}` : ''})`);
  }

  private cancelRelease(service: string): void {
    clearTimeout(this.releaseTimers.get(service));
    this.releaseTimers.delete(service);
  }
}
