import { SupervisedProcess } from '@livemesh/media';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  /** Added to the environment the child inherits. */
  env?: Record<string, string>;
  /** Resolves once the child serves; start() waits for it. */
  ready?: () => Promise<void>;
  /** Do not relay the child's output (an encoder's progress lines). */
  quiet?: boolean;
}

interface Child {
  spec: ChildSpec;
  proc?: SupervisedProcess;
  restarts: number;
  timer?: NodeJS.Timeout;
}

/**
 * Keeps a set of long-running processes up: starts them in order, waits for each to be ready,
 * restarts one that dies (with back-off), and stops them in reverse order. Each child gets its
 * own process group, so stopping it also stops what it spawned (ffmpeg, workers).
 */
export class Supervisor {
  private readonly children: Child[] = [];
  private stopping = false;

  constructor(private readonly opts: { log: (name: string, line: string) => void }) {}

  /** Starts a child and waits until it is ready; rejects if it cannot start or dies first. */
  async start(spec: ChildSpec): Promise<void> {
    const child: Child = { spec, restarts: 0 };
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
      env: { ...process.env, NO_COLOR: '1', ...spec.env },
      processGroup: true,
      onStdoutLine: relay,
      onStderrLine: relay,
    });
    proc.on('exited', (x) => {
      if (x.expected || this.stopping) return;
      const delay = Math.min(500 * 2 ** child.restarts, 10_000);
      child.restarts++;
      this.opts.log(spec.name, `exited unexpectedly (code ${x.code}, signal ${x.signal}); restarting in ${delay} ms`);
      child.timer = setTimeout(() => {
        if (!this.stopping) child.proc = this.spawn(child);
      }, delay);
    });
    proc.on('start-failed', (e) => this.opts.log(spec.name, `cannot start: ${e.message}`));
    child.proc = proc.start();
    return proc;
  }

  /** Stops every child, the last started first, each with a grace period before SIGKILL. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const child of [...this.children].reverse()) {
      clearTimeout(child.timer);
      if (child.proc?.isRunning) {
        this.opts.log(child.spec.name, 'stopping');
        await child.proc.stop(graceMs);
      }
    }
  }
}
