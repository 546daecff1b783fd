// Runs the built apps (`node apps/<name>/dist/main.js`) as real child processes for e2e tests, with
// their output collected line by line so a test can wait on a log line instead of sleeping.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readLines } from '@livemesh/media';

/** The repository root (this file is test/support/processes.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface AppProcess {
  name: string;
  pid: number | undefined;
  /** Every output line so far, stdout and stderr interleaved in arrival order. */
  readonly lines: readonly string[];
  /** The last `n` lines joined, for failure messages. */
  tail(n?: number): string;
  /**
   * Resolves with the match of the first line (already printed or yet to come) matching `pattern`.
   * Rejects with the recent output when the timeout passes or the process exits first.
   */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); resolves once it has exited. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

// A test that throws before its afterAll must not leave processes (and their ports) or temp
// folders behind.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** SIGKILLs `child` if the test process exits while it still runs. */
export function killOnExit(child: ChildProcess): void {
  installExitHook();
  live.add(child);
  const forget = (): boolean => live.delete(child);
  child.once('exit', forget);
  child.once('close', forget); // a child that never started emits 'error' and 'close', no 'exit'
}

/** Removes `dir` if the test process exits before the returned `forget` is called (after removing it normally). */
export function removeOnExit(dir: string): () => void {
  installExitHook();
  dirs.add(dir);
  return () => dirs.delete(dir);
}

/**
 * Starts `node apps/<name>/dist/main.js [...args]` from the repository root. `env` is laid over the
 * test process's environment; pass every variable the test depends on (NATS_URL, ports) explicitly.
 */
export function spawnApp(name: string, env: Record<string, string | undefined> = {}, args: string[] = []): AppProcess {
  const main = join(REPO_ROOT, 'apps', name, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} does not exist; run \`npm run build\` first`);
  return spawnNode(name, [main, ...args], env);
}

/** Like spawnApp for any Node script (path relative to the repository root or absolute). */
export function spawnNode(name: string, argv: string[], env: Record<string, string | undefined> = {}): AppProcess {
  const child = spawn(process.execPath, argv, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);

  const lines: string[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }>();
  const onLine = (line: string): void => {
    lines.push(line);
    for (const w of waiters) {
      const m = line.match(w.pattern);
      if (m) {
        waiters.delete(w);
        w.resolve(m);
      }
    }
  };
  // Both pipes are drained as lines; the last line without a newline comes at the pipe's end.
  readLines(child.stdout, onLine);
  readLines(child.stderr, onLine);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      onLine(`[spawn error] ${err.message}`);
      resolve({ code: null, signal: null });
    });
  });

  const tail = (n = 40): string => lines.slice(-n).join('\n');

  return {
    name,
    pid: child.pid,
    lines,
    tail,
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      for (const line of lines) {
        const m = line.match(pattern);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const waiter = {
          pattern,
          resolve: (m: RegExpMatchArray) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms; last output:\n${tail()}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(({ code, signal }) => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`${name} exited (${signal ?? `code ${code}`}) before printing a line matching ${pattern}; last output:\n${tail()}`));
        });
      });
    },
    async stop(graceMs) {
      await terminate(child, graceMs);
      return exited;
    },
  };
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`; resolves once it has exited. */
export async function terminate(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** CPU ticks (user + system) a process has used; undefined once it is gone. A busy engine is one whose count moves. */
export function cpuTicks(pid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return undefined;
  }
}
