import { UnsafeServiceError, ValidationFailedError, serviceEnvProblems, workerHandOver, type ServiceSpec, type WorkerEnvironment } from '@livemesh/contracts';
import { SupervisedProcess } from '@livemesh/media';
import type { ContainerRuntime, RuntimeLogger, ServiceInstance, StartInstruction } from './runtime.types.js';

export interface ProcessRuntimeOptions {
  /** The worker's entry file (apps/worker's main). */
  workerEntry: string;
  /** Environment every worker gets on top of the inherited one (NATS_URL, limits...): only variables a worker reads. */
  env: WorkerEnvironment;
  /** How long a released service keeps its workers before they are stopped, ms. */
  idleGraceMs: number;
  logger: RuntimeLogger;
  /**
   * Mints the NATS credential of one worker and returns its file's path, handed to that worker
   * alone as NATS_CREDS. Without it workers connect as the orchestrator's environment says.
   */
  workerCredentials?: (service: string, workerId: string) => Promise<string>;
}

/** Variables of the orchestrator's own NATS identity: a worker never inherits them. */
const ORCHESTRATOR_ONLY = ['NATS_ACCOUNT_SIGNER', 'NATS_TLS_CERT', 'NATS_TLS_KEY'];

interface Replica {
  id: string;
  spec: ServiceSpec;
  startParams: StartInstruction['startParams'];
  proc: SupervisedProcess;
  startedAt: string;
  restarts: number;
  state: ServiceInstance['state'];
  /** Its own NATS credential file, when the runtime mints them. */
  credsFile?: string;
}

/**
 * The embedded default: each service replica is a local worker process (`node apps/worker`).
 * Replicas of a service share its durable consumer, so scaling is starting more of them. A
 * replica that dies is replaced; its unacked segment is redelivered to another one by JetStream.
 * Replicas live and die with this process: close() drains them, and should this process die
 * without closing, each notices its parent is gone and drains by itself (see docs/design.md,
 * "Supervision"). So the next orchestrator starts fresh replicas and never adopts or duplicates.
 */
export class ProcessRuntime implements ContainerRuntime {
  readonly kind = 'process' as const;
  private readonly replicas = new Map<string, Replica[]>();
  private readonly releaseTimers = new Map<string, NodeJS.Timeout>();
  private seq = 0;
  private closing = false;

  constructor(private readonly opts: ProcessRuntimeOptions) {}

  async ensure(instr: StartInstruction): Promise<{ instance: ServiceInstance; reused: boolean }> {
    const name = instr.service.name;
    this.cancelRelease(name);
    const live = (this.replicas.get(name) ?? []).filter((r) => r.state !== 'exited');
    if (live.length > 0) return { instance: view(live[0]!), reused: true };
    const started = await this.scale(instr.service, Math.max(1, instr.service.minReplicas), instr.startParams);
    return { instance: started[0]!, reused: false };
  }

  async scale(service: ServiceSpec, replicas: number, startParams: StartInstruction['startParams'] = service.startParams ?? {}): Promise<ServiceInstance[]> {
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > service.maxReplicas) {
      throw new ValidationFailedError(`cannot scale ${service.name}`, [`replicas: must be an integer from 0 to ${service.maxReplicas} (the service's maxReplicas)`]);
    }
    // Checked at registration too; again here, so an entry written straight into lm_catalogue cannot
    // set NODE_OPTIONS or LD_PRELOAD on a host process. The module itself is checked by the worker's loader.
    const envProblems = serviceEnvProblems(service.env);
    if (envProblems.length) throw new UnsafeServiceError(`service ${service.name} may not run`, envProblems);
    const list = (this.replicas.get(service.name) ?? []).filter((r) => r.state !== 'exited');
    while (list.length < replicas) {
      const id = `${service.name}-${++this.seq}`;
      const credsFile = await this.opts.workerCredentials?.(service.name, id);
      list.push(this.startReplica(service, startParams, id, 0, credsFile));
    }
    const surplus = list.splice(replicas);
    this.replicas.set(service.name, list);
    await Promise.all(surplus.map((r) => this.stopReplica(r)));
    if (surplus.length || replicas) this.opts.logger.log(`service=${service.name} replicas=${list.length}`);
    return list.map(view);
  }

  async list(service?: string): Promise<ServiceInstance[]> {
    const all = service ? (this.replicas.get(service) ?? []) : [...this.replicas.values()].flat();
    return all.map(view);
  }

  async release(service: string): Promise<void> {
    const list = this.replicas.get(service);
    if (!list?.length) return;
    this.cancelRelease(service);
    const min = list[0]!.spec.minReplicas;
    this.releaseTimers.set(
      service,
      setTimeout(() => {
        this.releaseTimers.delete(service);
        this.opts.logger.log(`service=${service} idle for ${this.opts.idleGraceMs} ms: keeping ${min} replica(s)`);
        void this.scale(list[0]!.spec, min).catch((e: Error) => this.opts.logger.error(`service=${service} reclaim failed: ${e.message}`));
      }, this.opts.idleGraceMs).unref(),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.releaseTimers.values()) clearTimeout(t);
    await Promise.all([...this.replicas.values()].flat().map((r) => this.stopReplica(r)));
    this.replicas.clear();
  }

  private cancelRelease(service: string): void {
    clearTimeout(this.releaseTimers.get(service));
    this.releaseTimers.delete(service);
  }

  private startReplica(spec: ServiceSpec, startParams: StartInstruction['startParams'], id: string, restarts: number, credsFile: string | undefined): Replica {
    const inherited: Record<string, string | undefined> = { ...process.env };
    for (const k of ORCHESTRATOR_ONLY) delete inherited[k];
    // With minted credentials each worker gets its own, never the orchestrator's.
    if (this.opts.workerCredentials) delete inherited.NATS_CREDS;
    const env: Record<string, string> = {
      ...inherited,
      ...(spec.env ?? {}),
      ...this.opts.env,
      NO_COLOR: '1',
      ...workerHandOver({
        service: spec.name,
        workerId: id,
        startParams,
        config: spec.config,
        stageModule: spec.run?.module,
        credsFile,
        // The worker drains and exits once this process is gone: a SIGKILLed orchestrator leaves no
        // orphans for the next one to duplicate (its own group keeps it out of our group's signals).
        parentPid: process.pid,
      }),
    } as Record<string, string>;
    // API credentials are the orchestrator's and the CLI's, never a stage's.
    delete env.LIVEMESH_ADMIN_TOKEN;
    delete env.LIVEMESH_TOKEN;
    const log = (line: string) => this.opts.logger.log(`[${id}] ${line}`);
    const proc = new SupervisedProcess(process.execPath, [this.opts.workerEntry], {
      env,
      // Own group: stopping a replica also stops the ffmpeg it is running.
      processGroup: true,
      onStdoutLine: log,
      onStderrLine: log,
    });
    const replica: Replica = { id, spec, startParams, proc, startedAt: new Date().toISOString(), restarts, state: 'starting', ...(credsFile ? { credsFile } : {}) };
    proc.on('started', () => (replica.state = 'running'));
    proc.on('start-failed', (e) => {
      replica.state = 'exited';
      this.opts.logger.error(`service=${spec.name} worker=${id} cannot start: ${e.message}`);
    });
    proc.on('exited', (x) => {
      replica.state = 'exited';
      if (x.expected || this.closing) return;
      const list = this.replicas.get(spec.name) ?? [];
      const i = list.indexOf(replica);
      if (i < 0) return;
      // A container that dies is replaced; back-off keeps a crash loop from spinning.
      const delay = Math.min(500 * 2 ** restarts, 10_000);
      this.opts.logger.warn(`service=${spec.name} worker=${id} exited (code ${x.code}, signal ${x.signal}); replacing it in ${delay} ms`);
      setTimeout(() => {
        if (this.closing || list.indexOf(replica) < 0) return;
        list[list.indexOf(replica)] = this.startReplica(spec, startParams, id, restarts + 1, credsFile);
      }, delay).unref();
    });
    proc.start();
    return replica;
  }

  private async stopReplica(r: Replica): Promise<void> {
    if (r.state === 'exited') return;
    // Workers drain on SIGTERM: they finish or hand back what they hold, so nothing is lost.
    await r.proc.stop(15_000);
  }
}

function view(r: Replica): ServiceInstance {
  return { id: r.id, service: r.spec.name, state: r.state, startedAt: r.startedAt, detail: { pid: r.proc.pid ?? 0, restarts: r.restarts } };
}
