import { chmod, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { BusError, ConfigError } from '@livemesh/contracts';

/**
 * The bus over a unix socket, for workers in containers without a network (docs/security.md,
 * "Containers"). The orchestrator's runtime serves a unix socket that pipes each connection to the
 * NATS server (serveUnixRelay); the socket's directory is bind-mounted read-only into the worker
 * containers, whose NATS_URL is `unix:///<path>`; there Bus.connect opens a loopback TCP listener
 * that pipes to the socket (openBusRelay), and nats.js connects to that. The relay moves bytes
 * only: the NATS protocol, its authentication and TLS pass through it unchanged.
 */
export interface Relay {
  /** Where it listens: the socket path, or `127.0.0.1:<port>`. */
  readonly address: string;
  /** Connections being piped now. */
  connections(): number;
  /** Stops listening and closes every piped connection (both sides). */
  close(): Promise<void>;
}

export interface RelayOptions {
  /** Connections piped at once; more are closed at once. Default 256. */
  maxConnections?: number;
  /** How long dialling the other side may take, ms. Default 5000. */
  connectTimeoutMs?: number;
}

/** One NATS server to dial. */
export interface RelayTarget {
  host: string;
  port: number;
}

/** The longest unix socket path Linux accepts (sun_path is 108 bytes with its terminating NUL). */
const MAX_SOCKET_PATH = 107;

/** The file name of the socket inside the relay's directory. */
export const RELAY_SOCKET_NAME = 'nats.sock';

/**
 * The host:port of each server of a NATS_URL list (`nats://`, `tls://`; port 4222 when none),
 * in order; the relay dials the first that answers.
 */
export function relayTargets(natsUrl: string): RelayTarget[] {
  return natsUrl
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const u = new URL(s);
      if (u.protocol !== 'nats:' && u.protocol !== 'tls:') throw new ConfigError('environment is invalid', [`NATS_URL: the bus relay dials nats:// or tls:// servers, not "${s}"`]);
      return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 4222) };
    });
}

/** The socket path of a `unix:///abs/path` NATS_URL; undefined for any other URL. */
export function unixSocketOf(natsUrl: string): string | undefined {
  const m = /^unix:\/\/(\/\S*)$/.exec(natsUrl.trim());
  return m ? m[1] : undefined;
}

/**
 * Makes the relay's directories: `<root>` (mode 0700: no other user of the host reaches the
 * socket) holding `<root>/socket` (0755, the directory containers mount; the socket in it is 0666,
 * so the workers' non-root user may connect inside the container). Returns the mounted directory.
 */
export async function prepareRelayDir(root: string): Promise<string> {
  const dir = join(root, 'socket');
  const sock = join(dir, RELAY_SOCKET_NAME);
  if (Buffer.byteLength(sock) > MAX_SOCKET_PATH) {
    throw new ConfigError('environment is invalid', [`LIVEMESH_DATA_DIR: the bus relay socket ${sock} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter data directory`]);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(root, 0o700);
  await chmod(dir, 0o755);
  return dir;
}

/**
 * A unix socket at `<dir>/nats.sock` whose every connection is piped to the first of `targets`
 * that accepts one. A stale socket file (an orchestrator that died) is replaced.
 */
export async function serveUnixRelay(dir: string, targets: readonly RelayTarget[], opts: RelayOptions = {}): Promise<Relay> {
  if (targets.length === 0) throw new BusError('the bus relay needs at least one NATS server to dial');
  const path = join(dir, RELAY_SOCKET_NAME);
  await rm(path, { force: true });
  const relay = await listen(path, targets, opts, () => path);
  await chmod(path, 0o666);
  return relay;
}

/** A listener on 127.0.0.1 (a free port) whose every connection is piped to the unix socket at `path`. */
export async function serveLoopbackRelay(path: string, opts: RelayOptions = {}): Promise<Relay & { port: number }> {
  return listen({ host: '127.0.0.1', port: 0 }, [{ path }], opts, (server) => `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
}

/**
 * For Bus.connect: when `url` is `unix:///path`, a loopback relay to that socket and the server
 * URL nats.js should use instead; undefined for any other URL.
 */
export async function openBusRelay(url: string): Promise<{ servers: string[]; close(): Promise<void> } | undefined> {
  const path = unixSocketOf(url);
  if (path === undefined) return undefined;
  // One bus connection (and its reconnects) uses it; a few spare for a slow close.
  const relay = await serveLoopbackRelay(path, { maxConnections: 8 });
  return { servers: [`nats://127.0.0.1:${relay.port}`], close: () => relay.close() };
}

type Dial = { path: string } | RelayTarget;

async function listen(
  at: string | net.ListenOptions,
  targets: readonly Dial[],
  opts: RelayOptions,
  describe: (server: net.Server) => string,
): Promise<Relay & { port: number }> {
  const max = opts.maxConnections ?? 256;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const open = new Set<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true }, (local) => {
    if (open.size >= max) {
      local.destroy();
      return;
    }
    open.add(local);
    local.once('close', () => open.delete(local));
    pipeTo(local, targets, connectTimeoutMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new BusError(`the bus relay cannot listen on ${typeof at === 'string' ? at : `${at.host}:${at.port}`}: ${e.message}`, { cause: e })));
    server.listen(at, () => resolve());
  });
  const address = server.address();
  let closing: Promise<void> | undefined;
  return {
    address: describe(server),
    port: typeof address === 'object' && address ? address.port : 0,
    connections: () => open.size,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Closing a relayed connection closes its other side too (pipeTo).
        for (const s of open) s.destroy();
      });
      return closing;
    },
  };
}

/**
 * Pipes `local` to a new connection to the first target that answers, both ways with
 * backpressure (pipe). Either side ending, failing or closing closes both.
 */
function pipeTo(local: net.Socket, targets: readonly Dial[], connectTimeoutMs: number): void {
  let remote: net.Socket | undefined;
  const both = () => {
    local.destroy();
    remote?.destroy();
  };
  local.once('error', both);
  local.once('close', both);
  const dial = (i: number): void => {
    if (local.destroyed) return;
    if (i >= targets.length) return void local.destroy();
    const t = targets[i]!;
    const s = 'path' in t ? net.createConnection({ path: t.path }) : net.createConnection({ host: t.host, port: t.port });
    remote = s;
    s.setTimeout(connectTimeoutMs, () => s.destroy(new Error(`no connection within ${connectTimeoutMs} ms`)));
    const failed = () => {
      s.destroy();
      dial(i + 1);
    };
    s.once('error', failed);
    s.once('connect', () => {
      s.setTimeout(0);
      s.off('error', failed);
      s.once('error', both);
      s.once('close', both);
      local.pipe(s);
      s.pipe(local);
      local.resume();
    });
  };
  dial(0);
}
