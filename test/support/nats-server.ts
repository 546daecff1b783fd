// A real nats-server per suite (docs/design.md, "Tests talk to real things"), as nats.js's own tests
// do: a free 127.0.0.1 port, JetStream on, its store in a temp folder removed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsCredentialMinter, createNatsAuthSecrets, natsServerAuthConfig, signerOf } from '@livemesh/bus';
import { writePrivateFile, type NatsIdentity } from '@livemesh/contracts';
import { freePort } from './free-port.js';
import { killOnExit, removeOnExit, terminate } from './processes.js';
import { requireExecutable } from './tools.js';

export interface NatsServerOptions {
  /** Also open the HTTP monitoring port (/varz, /jsz, ...) on 127.0.0.1; see `monitorUrl`. */
  monitor?: boolean;
  /** More nats-server arguments, e.g. ['--max_payload', '2MB']. */
  extraArgs?: string[];
  /** How long to wait for the server to accept connections, ms. Default 15 000. */
  startTimeoutMs?: number;
  /**
   * Turn on JWT auth as `livemesh up` does (an operator, the livemesh account, the memory
   * resolver); `auth` on the returned server mints credentials for it.
   */
  auth?: boolean;
}

/** The auth of a server started with `auth: true`. */
export interface NatsServerAuth {
  /** The file NATS_ACCOUNT_SIGNER names (the account and its signing key), for an orchestrator. */
  signerFile: string;
  /** Writes a credential for `id` (mode 0600) and returns its path, for NATS_CREDS. */
  credsFile(id: NatsIdentity): Promise<string>;
}

export interface NatsServer {
  /** nats://127.0.0.1:<port> */
  url: string;
  port: number;
  /** http://127.0.0.1:<port> when started with `monitor: true`. */
  monitorUrl?: string;
  /** The JetStream store folder; kept across restart(), removed by stop(). */
  storeDir: string;
  /** Set when started with `auth: true`. */
  auth?: NatsServerAuth;
  /** The server's recent output (last 500 lines), for failure messages. */
  logs(): string;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its store. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the server and starts it again on the same port with the same store (JetStream state survives). */
  restart(): Promise<void>;
  /** Stops the server, keeping its port and store, until up(): an outage of any length. */
  down(): Promise<void>;
  /** SIGKILLs the server (no shutdown, JetStream as a crash leaves it), keeping its port and store, until up(). */
  kill(): Promise<void>;
  /** Starts a server stopped by down() or kill() again on the same port with the same store. */
  up(): Promise<void>;
}

/**
 * JWT auth as `livemesh up` sets it up, in `authDir`: the server's auth config (operator, the
 * livemesh account, memory resolver) to include, and the minter of credentials for it.
 */
export async function setUpNatsAuth(authDir: string): Promise<{ confFile: string; auth: NatsServerAuth }> {
  const secrets = createNatsAuthSecrets();
  const confFile = join(authDir, 'auth.conf');
  await writePrivateFile(confFile, await natsServerAuthConfig(secrets));
  const signerFile = join(authDir, 'signer.json');
  await writePrivateFile(signerFile, JSON.stringify(signerOf(secrets)));
  const minter = new NatsCredentialMinter(signerOf(secrets), join(authDir, 'creds'));
  return { confFile, auth: { signerFile, credsFile: (id) => minter.credsFile(id) } };
}

/** Starts a real nats-server with JetStream on a free 127.0.0.1 port and waits until it accepts connections. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = requireExecutable('nats-server', 'nats-server');
  const storeDir = await mkdtemp(join(tmpdir(), 'livemesh-nats-'));
  const forgetStore = removeOnExit(storeDir);
  const output: string[] = [];
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  let extraArgs = options.extraArgs ?? [];
  let auth: NatsServerAuth | undefined;
  if (options.auth) {
    const set = await setUpNatsAuth(join(storeDir, 'auth'));
    auth = set.auth;
    extraArgs = ['-c', set.confFile, ...extraArgs];
  }

  let port = 0;
  let monitorPort: number | undefined;
  let child: ChildProcess | undefined;
  // The free port can be taken between freePort() and the server's bind; try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    monitorPort = options.monitor ? await freePort() : undefined;
    try {
      child = await launch(bin, args(port, monitorPort, storeDir, extraArgs), port, output, timeoutMs);
      break;
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(output.join('\n'))) {
        await rm(storeDir, { recursive: true, force: true });
        forgetStore();
        throw err;
      }
    }
  }

  let stopped = false;
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorUrl: monitorPort === undefined ? undefined : `http://127.0.0.1:${monitorPort}`,
    storeDir,
    ...(auth ? { auth } : {}),
    logs: () => output.join('\n'),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child) await terminate(child);
      await rm(storeDir, { recursive: true, force: true });
      forgetStore();
    },
    async restart() {
      await server.down();
      await server.up();
    },
    async down() {
      if (stopped) throw new Error('down() after stop()');
      if (child) await terminate(child);
      child = undefined;
    },
    async kill() {
      if (stopped) throw new Error('kill() after stop()');
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await gone;
    },
    async up() {
      if (stopped) throw new Error('up() after stop()');
      if (child) throw new Error('up() while the server runs');
      child = await launch(bin, args(port, monitorPort, storeDir, extraArgs), port, output, timeoutMs);
    },
  };
  return server;
}

function args(port: number, monitorPort: number | undefined, storeDir: string, extra: string[] = []): string[] {
  const a = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir];
  if (monitorPort !== undefined) a.push('-m', String(monitorPort)); // monitoring binds to the -a address too
  return [...a, ...extra];
}

/** Starts nats-server with `argv`, resolving once it accepts connections on `port` (its output goes to `output`). */
export async function launch(bin: string, argv: string[], port: number, output: string[], timeoutMs: number): Promise<ChildProcess> {
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) output.push(line);
    if (output.length > 500) output.splice(0, output.length - 500);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`nats-server could not start: ${err.message}`)));
    child.once('exit', (code, signal) => reject(new Error(`nats-server exited (${signal ?? `code ${code}`}) before accepting connections:\n${output.slice(-20).join('\n')}`)));
  });
  exited.catch(() => undefined);

  try {
    await Promise.race([waitForTcp(port, timeoutMs, () => child.exitCode !== null || child.signalCode !== null), exited]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** Resolves once 127.0.0.1:<port> accepts a TCP connection; retries refused connects until the deadline. */
function waitForTcp(port: number, timeoutMs: number, gaveUp: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = tcpConnect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', (err) => {
        socket.destroy();
        if (gaveUp()) return; // the exit latch reports it, with the server's output
        if (Date.now() > deadline) reject(new Error(`nothing accepted connections on 127.0.0.1:${port} within ${timeoutMs} ms (${err.message})`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}
