import { SupervisedProcess } from '@livemesh/media';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  /** Added to the environment the child inherits. */
  env?: Record<string, string>;
  /** Resolves once the child serves; start() waits for it, and a restart logs when it passes again. */
  ready?: () => Promise<void>;
  /** Do not relay the child's output (an encoder's progress lines). */
  quiet?: boolean;
  /** How long stopAll() waits after SIGTERM before SIGKILL; defaults to stopAll's grace. */
  stopGraceMs?: number;
}

export interface RestartPolicy {
  /** Delay before the first restart, ms; each further one doubles it. */
  initialDelayMs: number;
  /** The longest delay between restarts, ms. */
  maxDelayMs: number;
  /** A child that stayed up this long is healthy again: its next restart waits the initial delay. */
  resetAfterMs: number;
}

/** systemd's `Restart=always` with a back-off, as runit and Kubernetes' CrashLoopBackOff do it. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 15_000, resetAfterMs: 30_000 };

interface Child {
  spec: ChildSpec;
  proc?: SupervisedProcess;
  /** Restarts since the child last stayed up for resetAfterMs. */
  failures: number;
  restarts: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
}

/** The delay before restart number `failures` (0-based) of a child. */
export function restartDelay(policy: RestartPolicy, failures: number): number {
  return Math.min(policy.initialDelayMs * 2 ** Math.min(failures, 30), policy.maxDelayMs);
}

/**
 * Keeps a set of long-running processes up: starts them in order, waits for each to be ready,
 * restarts one that dies (exponential back-off, reset once it has stayed up a while), and stops
 * them in reverse order. Each child gets its own process group, so stopping it also stops what it
 * spawned (ffmpeg, workers).
 */
export class Supervisor {
  private readonly children: Child[] = [];
  private stopping = false;
  private readonly policy: RestartPolicy;

  constructor(private readonly opts: { log: (name: string, line: string) => void; restart?: Partial<RestartPolicy> }) {
    this.policy = { ...DEFAULT_RESTART_POLICY, ...opts.restart };
  }

  /** Starts a child and waits until it is ready; rejects if it cannot start or dies first. */
  async start(spec: ChildSpec): Promise<void> {
    const child: Child = { spec, failures: 0, restarts: 0, startedAt: Date.now() };
    this.children.push(child);
    const proc = this.spawn(child);
    const died = new Promise<never>((_, reject) => {
      proc.once('start-failed', (e) => reject(new Error(`${spec.name}: cannot start ${spec.command}: ${e.message}`)));
      proc.once('exited', (x) => reject(new Error(`${spec.name} exited during start-up (code ${x.code}, signal ${x.signal})`)));
    });
    died.catch(() => undefined);
    await Promise.race([spec.ready ? spec.ready() : Promise.resolve(), died]);
    this.opts.log(spec.name, `ready (pid ${proc.pid})`);
  }

  private spawn(child: Child): SupervisedProcess {
    const { spec } = child;
    const relay = (line: string) => {
      if (!spec.quiet) this.opts.log(spec.name, line);
    };
    const proc = new SupervisedProcess(spec.command, spec.args, {
      // The supervisor prefixes every line with the child's name; colour codes would nest inside.
      // LIVEMESH_PARENT_PID: our apps shut down by themselves should this process die unstopped.
      env: { ...process.env, NO_COLOR: '1', ...spec.env, LIVEMESH_PARENT_PID: String(process.pid) },
      processGroup: true,
      onStdoutLine: relay,
      onStderrLine: relay,
    });
    child.startedAt = Date.now();
    proc.on('exited', (x) => {
      if (x.expected || this.stopping) return;
      const upMs = Date.now() - child.startedAt;
      if (upMs >= this.policy.resetAfterMs) child.failures = 0;
      const delay = restartDelay(this.policy, child.failures);
      child.failures++;
      child.restarts++;
      this.opts.log(spec.name, `exited unexpectedly (code ${x.code}, signal ${x.signal}) after ${(upMs / 1000).toFixed(1)} s up; restart ${child.restarts} in ${delay} ms`);
      child.timer = setTimeout(() => this.restart(child), delay);
    });
    proc.on('start-failed', (e) => this.opts.log(spec.name, `cannot start: ${e.message}`));
    child.proc = proc.start();
    return proc;
  }

  private restart(child: Child): void {
    if (this.stopping) return;
    const proc = this.spawn(child);
    if (!child.spec.ready) return;
    const began = Date.now();
    // A failed wait needs no handling of its own: the exit that caused it schedules the next restart.
    void child.spec.ready().then(
      () => {
        if (child.proc === proc && proc.isRunning) this.opts.log(child.spec.name, `ready again (pid ${proc.pid}, ${Date.now() - began} ms after restart ${child.restarts})`);
      },
      () => undefined,
    );
  }

  /** Stops every child, the last started first, each with a grace period before SIGKILL. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const child of [...this.children].reverse()) {
      clearTimeout(child.timer);
      if (child.proc?.isRunning) {
        this.opts.log(child.spec.name, 'stopping');
        await child.proc.stop(child.spec.stopGraceMs ?? graceMs);
      }
    }
  }

  /** SIGKILLs every child's process group at once (a second Ctrl-C while stopping). */
  async killAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.children.map((child) => {
        clearTimeout(child.timer);
        return child.proc?.isRunning ? child.proc.stop(0) : undefined;
      }),
    );
  }
}
