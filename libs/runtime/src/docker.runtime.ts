import { randomBytes } from 'node:crypto';
import { chown } from 'node:fs/promises';
import type Docker from 'dockerode';
import { ConfigError, RuntimeError, ValidationFailedError, imageRegistry, type ServiceSpec, type WorkerEnvironment } from '@livemesh/contracts';
import { readLines } from '@livemesh/media';
import { followProgress } from './docker.client.js';
import { LABELS, assertRunnable, heartbeatHealth, pinnedImage, workerEnvironment, workloadLabels, type ContainerLimits } from './docker.labels.js';
import { heartbeatAges, type HeartbeatSource } from './docker.heartbeats.js';
import { LAST_WORDS, demuxLogs } from './docker.logs.js';
import { IMAGE_USER, imageExists } from './image.base.js';
import { DEFAULT_WORKER_NETWORK, containerCreateOptions } from './container.options.js';
import type { WorkerBusRelay } from './worker.bus.relay.js';
import type { ContainerRuntime, RuntimeLogger, ServiceInstance, StartInstruction } from './runtime.types.js';

export interface DockerRuntimeOptions {
  docker: Docker;
  /** Environment every worker gets (NATS_URL, LOG_LEVEL...), under the service's own: only variables a worker reads. */
  env: WorkerEnvironment;
  /** Image of services whose catalogue entry names none (the built-ins). */
  defaultImage: string;
  /** LIVEMESH_IMAGE_REGISTRIES: where other images may come from (`local`: this engine's own, never pulled). */
  imageRegistries: readonly string[];
  limits: ContainerLimits;
  /** How long a released service keeps its containers before they are removed, ms. */
  idleGraceMs: number;
  logger: RuntimeLogger;
  /** Workers' heartbeats (lm_workers); without it health comes from the engine alone. */
  heartbeats?: HeartbeatSource;
  /** A running container whose worker has not beaten for this long is replaced, ms. */
  heartbeatStaleMs?: number;
  /** Backstop pass over every service, besides the engine's `die` events, ms. */
  reconcileIntervalMs?: number;
  /** Grace a stopping worker gets to drain its segments, s. */
  stopGraceSeconds?: number;
  /**
   * Network of worker containers: `none` (default: no network; the bus through `busRelay`),
   * `host`, or a user-defined network where NATS_URL's host resolves (docker compose).
   */
  network?: string;
  /** The bus relay socket workers on network `none` use; required for that network. */
  busRelay?: WorkerBusRelay;
  /**
   * Mints a worker's own NATS credential and returns its file on the host; the file is mounted
   * read-only into that worker's container alone (NATS_CREDS points at it there).
   */
  workerCredentials?: (service: string, workerId: string) => Promise<string>;
}

interface Desired {
  spec: ServiceSpec;
  startParams: StartInstruction['startParams'];
  replicas: number;
  image: string;
  /** Consecutive replacements of containers that died young; drives the back-off. */
  crashes: number;
  notBefore: number;
}

type ContainerInfo = Docker.ContainerInfo;

/**
 * Runs service replicas as containers on one Docker engine. Containers carry `livemesh.*`
 * labels, and every decision starts from listing them, so the engine is the source of truth: a
 * warm container is found and reused (also by an orchestrator that restarted), one that died
 * is replaced, surplus and stale ones are stopped with a grace period so workers drain. Workers
 * never see the Docker socket; they run without a network (the bus through the relay socket) as
 * a non-root user with every capability dropped, no-new-privileges, a read-only root filesystem
 * and memory, CPU and PID limits (container.options.ts).
 */
export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker' as const;
  private readonly docker: Docker;
  private readonly desired = new Map<string, Desired>();
  private readonly releaseTimers = new Map<string, NodeJS.Timeout>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Marks the containers this process created; close() removes only those. */
  private readonly owner = randomBytes(6).toString('hex');
  private readonly heartbeatStaleMs: number;
  private readonly stopGrace: number;
  private ticker?: NodeJS.Timeout;
  private events?: NodeJS.ReadableStream & { destroy?: () => void };
  private closing = false;

  private readonly network: string;

  constructor(private readonly opts: DockerRuntimeOptions) {
    this.docker = opts.docker;
    this.network = workerNetworkOf(opts);
    // Served from the start, not from the first new container: workers adopted after a restart need it at once.
    opts.busRelay?.hostDir().catch((e: Error) => opts.logger.error(`bus relay for worker containers: ${e.message}`));
    this.heartbeatStaleMs = opts.heartbeatStaleMs ?? 30_000;
    this.stopGrace = opts.stopGraceSeconds ?? 15;
  }

  async ensure(instr: StartInstruction): Promise<{ instance: ServiceInstance; reused: boolean }> {
    const spec = instr.service;
    assertRunnable(spec, this.opts);
    this.cancelRelease(spec.name);
    this.startWatching();
    const image = pinnedImage(spec, this.opts.defaultImage);
    const want = this.want(spec, instr.startParams, image);
    const running = (await this.containersOf(spec.name)).filter((c) => c.State === 'running' && (isExternal(c) || c.Labels[LABELS.specHash] === want));
    const d = this.desired.get(spec.name);
    const replicas = Math.max(d?.replicas ?? 0, running.length, 1, spec.minReplicas);
    this.desired.set(spec.name, { spec, startParams: instr.startParams, replicas, image, crashes: d?.crashes ?? 0, notBefore: 0 });
    if (running.length > 0) {
      this.opts.logger.log(`service=${spec.name} reusing containerId=${short(running[0]!.Id)} (${running.length} running)`);
      return { instance: (await this.views([running[0]!]))[0]!, reused: true };
    }
    const list = await this.reconcile(spec.name);
    const first = list.find((c) => c.State === 'running');
    if (!first) throw new RuntimeError(`service ${spec.name}: no container of ${image} is running`);
    return { instance: (await this.views([first]))[0]!, reused: false };
  }

  async scale(service: ServiceSpec, replicas: number): Promise<ServiceInstance[]> {
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > service.maxReplicas) {
      throw new ValidationFailedError(`cannot scale ${service.name}`, [`replicas: must be an integer from 0 to ${service.maxReplicas} (the service's maxReplicas)`]);
    }
    assertRunnable(service, this.opts);
    this.startWatching();
    const d = this.desired.get(service.name);
    const startParams = d?.startParams ?? service.startParams ?? {};
    this.desired.set(service.name, { spec: service, startParams, replicas, image: pinnedImage(service, this.opts.defaultImage), crashes: 0, notBefore: 0 });
    this.opts.logger.log(`service=${service.name} scaling to ${replicas} container(s)`);
    return this.views((await this.reconcile(service.name)).filter((c) => c.State === 'running'));
  }

  async list(service?: string): Promise<ServiceInstance[]> {
    return this.views(await this.containersOf(service));
  }

  async release(service: string): Promise<void> {
    const d = this.desired.get(service);
    if (!d) return;
    this.cancelRelease(service);
    this.releaseTimers.set(
      service,
      setTimeout(() => {
        this.releaseTimers.delete(service);
        const now = this.desired.get(service);
        if (!now) return;
        this.opts.logger.log(`service=${service} idle for ${this.opts.idleGraceMs} ms: keeping ${now.spec.minReplicas} container(s)`);
        now.replicas = now.spec.minReplicas;
        void this.reconcile(service).catch((e: Error) => this.opts.logger.error(`service=${service} reclaim failed: ${e.message}`));
      }, this.opts.idleGraceMs).unref(),
    );
  }

  /** Stops the containers this runtime started; containers it adopted are left running for the next owner. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.ticker);
    for (const t of this.releaseTimers.values()) clearTimeout(t);
    this.events?.destroy?.();
    await Promise.allSettled([...this.locks.values()]);
    const mine = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.owner}=${this.owner}`] } });
    await Promise.all(mine.map((c) => this.retire(c, 'the runtime is closing')));
    // Adopted containers lose the bus until the next orchestrator serves the socket again; their clients reconnect.
    await this.opts.busRelay?.close();
    await this.opts.heartbeats?.close();
  }

  /** Brings one service to its desired state; serialised per service. Returns its containers afterwards. */
  reconcile(service: string): Promise<ContainerInfo[]> {
    const prev = this.locks.get(service) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.reconcileNow(service));
    this.locks.set(service, next);
    void next.finally(() => {
      if (this.locks.get(service) === next) this.locks.delete(service);
    }).catch(() => undefined);
    return next;
  }

  private async reconcileNow(service: string): Promise<ContainerInfo[]> {
    const d = this.desired.get(service);
    let all = await this.containersOf(service);
    if (!d || this.closing) return all;
    const want = this.want(d.spec, d.startParams, d.image);
    const beats = await heartbeatAges(this.opts.heartbeats, this.opts.logger);

    const dead: ContainerInfo[] = [];
    const hung: ContainerInfo[] = [];
    const current: ContainerInfo[] = [];
    const stale: ContainerInfo[] = [];
    const external: ContainerInfo[] = [];
    for (const c of all) {
      // Started by someone else (docker compose's workers): counted and reused, never stopped or replaced.
      if (isExternal(c)) {
        if (c.State === 'running') external.push(c);
      } else if (c.State !== 'running' && c.State !== 'created' && c.State !== 'restarting') dead.push(c);
      else if (c.Labels[LABELS.specHash] !== want) stale.push(c);
      else if (this.isHung(c, beats)) hung.push(c);
      else current.push(c);
    }
    for (const c of dead) {
      const age = Date.now() - c.Created * 1000;
      // A container that dies within a minute of its start counts as a crash: back off before the next.
      if (age < 60_000) {
        d.crashes++;
        d.notBefore = Date.now() + Math.min(500 * 2 ** d.crashes, 30_000);
      } else d.crashes = 0;
      this.opts.logger.warn(`service=${service} containerId=${short(c.Id)} ${c.Status}; replacing it${await this.lastWords(c)}`);
      await this.remove(c);
    }
    for (const c of hung) {
      this.opts.logger.warn(`service=${service} containerId=${short(c.Id)} has not sent a heartbeat for ${this.heartbeatStaleMs} ms; replacing it`);
      await this.retire(c, 'its worker stopped beating');
    }

    const need = Math.max(0, d.replicas - external.length);
    if (current.length < need) {
      if (Date.now() < d.notBefore) {
        this.opts.logger.warn(`service=${service} crashed ${d.crashes} time(s) in a row; next start after ${d.notBefore - Date.now()} ms`);
      } else {
        await this.ensureImage(d.image);
        while (current.length < need) current.push(await this.createContainer(d));
      }
    }
    // Replicas beyond the desired count, newest first, so long-running warm ones stay.
    current.sort((a, b) => a.Created - b.Created);
    const surplus = current.splice(need);
    await Promise.all([...surplus, ...stale].map((c) => this.retire(c, stale.includes(c) ? 'its service changed' : 'scaled down')));
    all = await this.containersOf(service);
    return all;
  }

  private async createContainer(d: Desired): Promise<ContainerInfo> {
    const name = `lm-${d.spec.name}-${randomBytes(4).toString('hex')}`;
    const env = workerEnvironment(d.spec, d.startParams, this.opts.env, name);
    const creds = await this.workerCreds(d.spec.name, name);
    const labels = workloadLabels(d.spec, d.image, d.startParams, this.owner);
    let id: string;
    try {
      const bus = this.opts.busRelay ? { hostDir: await this.opts.busRelay.hostDir() } : undefined;
      const container = await this.docker.createContainer(containerCreateOptions({ name, image: d.image, env, labels, limits: this.opts.limits, network: this.network, bus, ...(creds ? { credsFile: creds } : {}) }));
      id = container.id;
      await container.start();
    } catch (e) {
      throw new RuntimeError(`service ${d.spec.name}: cannot start a container of ${d.image}: ${(e as Error).message}`, { cause: e });
    }
    this.opts.logger.log(`service=${d.spec.name} started containerId=${short(id)} name=${name} image=${d.image}`);
    const [info] = await this.docker.listContainers({ all: true, filters: { id: [id] } });
    if (!info) throw new RuntimeError(`service ${d.spec.name}: container ${name} vanished right after its start`);
    return info;
  }

  /** SIGTERM (the worker drains and hands back what it holds), SIGKILL after the grace, then removal. */
  private async retire(c: ContainerInfo, why: string): Promise<void> {
    this.opts.logger.log(`service=${c.Labels[LABELS.service]} stopping containerId=${short(c.Id)}: ${why}`);
    const container = this.docker.getContainer(c.Id);
    try {
      if (c.State === 'running') await container.stop({ t: this.stopGrace });
    } catch (e) {
      if (!isGone(e)) this.opts.logger.warn(`containerId=${short(c.Id)} stop failed: ${(e as Error).message}`);
    }
    await this.remove(c);
  }

  /** The last lines a dead container wrote, for the log line that says it is replaced (it is removed after). */
  private async lastWords(c: ContainerInfo): Promise<string> {
    try {
      const raw = (await this.docker.getContainer(c.Id).logs({ stdout: true, stderr: true, tail: LAST_WORDS, follow: false })) as unknown as Buffer;
      const text = demuxLogs(raw).trim();
      return text ? `; its last output:\n${text}` : '';
    } catch {
      return '';
    }
  }

  private async remove(c: ContainerInfo): Promise<void> {
    try {
      await this.docker.getContainer(c.Id).remove({ force: true });
    } catch (e) {
      if (!isGone(e)) this.opts.logger.warn(`containerId=${short(c.Id)} removal failed: ${(e as Error).message}`);
    }
  }

  /** The worker's credential file, readable by the image's user (uid 10001) and nobody else; undefined without a minter. */
  private async workerCreds(service: string, workerId: string): Promise<string | undefined> {
    if (!this.opts.workerCredentials) return undefined;
    const file = await this.opts.workerCredentials(service, workerId);
    try {
      await chown(file, IMAGE_USER.uid, IMAGE_USER.gid);
    } catch (e) {
      throw new RuntimeError(`service ${service}: cannot hand worker ${workerId} its NATS credential (chown to uid ${IMAGE_USER.uid} needs root): ${(e as Error).message}`, { cause: e });
    }
    return file;
  }

  /** Pulls the image when the engine does not have it (a pushed service image on another machine). */
  private async ensureImage(image: string): Promise<void> {
    if (await imageExists(this.docker, image)) return;
    // A reference without a registry host would be pulled from Docker Hub: `local` means this engine's images only.
    if (image !== this.opts.defaultImage && imageRegistry(image) === 'local') throw new RuntimeError(`image ${image} is not on this engine, and images without a registry host are never pulled`);
    this.opts.logger.log(`pulling ${image}`);
    try {
      await followProgress(this.docker, await this.docker.pull(image), (line) => this.opts.logger.debug?.(`pull ${image}: ${line}`));
    } catch (e) {
      throw new RuntimeError(`cannot pull ${image}: ${(e as Error).message}`, { cause: e });
    }
  }

  private containersOf(service?: string): Promise<ContainerInfo[]> {
    const label = [`${LABELS.managed}=true`, ...(service ? [`${LABELS.service}=${service}`] : [])];
    return this.docker.listContainers({ all: true, filters: { label } }).then((list) => list.filter((c) => c.Labels[LABELS.service]));
  }

  private async views(list: ContainerInfo[]): Promise<ServiceInstance[]> {
    const beats = await heartbeatAges(this.opts.heartbeats, this.opts.logger);
    return list.map((c) => {
      const name = (c.Names[0] ?? '').replace(/^\//, '');
      const beat = beats?.get(name);
      const hb = heartbeatHealth(beat?.ageMs, this.heartbeatStaleMs);
      const state: ServiceInstance['state'] = c.State === 'running' ? hb.state : c.State === 'created' ? 'starting' : 'exited';
      const detail: Record<string, string | number> = { containerId: c.Id.slice(0, 12), name, image: c.Image, engineState: c.State, status: c.Status, health: c.State === 'running' ? hb.health : c.State };
      if (beat) Object.assign(detail, { heartbeatAgeMs: beat.ageMs, processed: beat.processed });
      return { id: name, service: c.Labels[LABELS.service]!, state, startedAt: new Date(c.Created * 1000).toISOString(), detail };
    });
  }

  /** Running long enough to have beaten, but its last beat (if any) is older than the stale limit. */
  private isHung(c: ContainerInfo, beats: Map<string, { ageMs: number }> | undefined): boolean {
    if (!beats || c.State !== 'running') return false;
    const name = (c.Names[0] ?? '').replace(/^\//, '');
    const age = beats.get(name)?.ageMs ?? Date.now() - c.Created * 1000;
    return age > this.heartbeatStaleMs;
  }

  private want(spec: ServiceSpec, startParams: StartInstruction['startParams'], image: string): string {
    return workloadLabels(spec, image, startParams, this.owner)[LABELS.specHash]!;
  }

  private cancelRelease(service: string): void {
    clearTimeout(this.releaseTimers.get(service));
    this.releaseTimers.delete(service);
  }

  /**
   * Reacts to containers dying (the engine's event stream) at once, and sweeps every known
   * service on an interval in case an event was missed (the stream reconnects after an engine restart).
   */
  private startWatching(): void {
    if (this.ticker || this.closing) return;
    this.ticker = setInterval(() => {
      for (const service of this.desired.keys()) void this.reconcile(service).catch((e: Error) => this.opts.logger.warn(`service=${service} reconcile failed: ${e.message}`));
    }, this.opts.reconcileIntervalMs ?? 5_000);
    this.ticker.unref();
    void this.watchEvents();
  }

  private async watchEvents(): Promise<void> {
    while (!this.closing) {
      try {
        const stream = (await this.docker.getEvents({ filters: { type: ['container'], event: ['die'], label: [`${LABELS.managed}=true`] } })) as NodeJS.ReadableStream & { destroy?: () => void };
        this.events = stream;
        await new Promise<void>((resolve) => {
          // One JSON event per line.
          readLines(stream, (line) => this.onDie(line));
          stream.once('end', resolve);
          stream.once('close', resolve);
          stream.once('error', resolve);
        });
      } catch (e) {
        if (!this.closing) this.opts.logger.warn(`docker events unavailable: ${(e as Error).message}`);
      }
      if (!this.closing) await new Promise((r) => setTimeout(r, 1_000).unref());
    }
  }

  private onDie(line: string): void {
    let service: string | undefined;
    try {
      service = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.[LABELS.service];
    } catch {
      return;
    }
    if (!service || !this.desired.has(service) || this.closing) return;
    void this.reconcile(service).catch((e: Error) => this.opts.logger.warn(`service=${service} reconcile failed: ${e.message}`));
  }
}

/** WORKER_NETWORK, checked against the relay: a worker on `none` reaches the bus only through it. */
export function workerNetworkOf(opts: { network?: string; busRelay?: WorkerBusRelay }): string {
  const network = opts.network ?? DEFAULT_WORKER_NETWORK;
  if (network === 'none' && !opts.busRelay) throw new ConfigError('environment is invalid', ['WORKER_NETWORK: "none" needs the bus relay (busRelay), or workers could not reach NATS']);
  if (network !== 'none' && opts.busRelay) throw new ConfigError('environment is invalid', [`WORKER_NETWORK: workers on "${network}" reach NATS_URL directly; the bus relay is for "none" only`]);
  return network;
}

/** A container labelled for a service but not created by a livemesh runtime (no spec hash): compose's workers. */
function isExternal(c: ContainerInfo): boolean {
  return c.Labels[LABELS.specHash] === undefined;
}

function short(id: string): string {
  return id.slice(0, 12);
}

function isGone(e: unknown): boolean {
  const code = (e as { statusCode?: number }).statusCode;
  return code === 404 || code === 304 || code === 409;
}
