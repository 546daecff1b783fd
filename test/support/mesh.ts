// Starts the whole mesh the way `livemesh up` does (nats-server, orchestrator with its process
// runtime, ingest, delivery), on free ports and a temporary data folder, for end-to-end tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@livemesh/bus';
import { freePort } from './free-port.js';
import { startNatsServer, type NatsServer, type NatsServerAuth } from './nats-server.js';
import { spawnApp, type AppProcess } from './processes.js';
import { waitFor } from './wait.js';
import { ALLOW_LOOPBACK_SOURCES } from './outbound.js';
import { ADMIN_TOKEN_ENV, withToken } from './auth.js';

/** What a mesh needs of its NATS: one server (startMesh) or a cluster (startMeshOn). */
export interface MeshNats {
  /** One URL or a comma-separated seed list. */
  url: string;
  auth?: NatsServerAuth;
  stop(): Promise<void>;
}

export interface Mesh<N extends MeshNats = NatsServer> {
  nats: N;
  apiUrl: string;
  rtmpPort: number;
  env: Record<string, string>;
  apps: Record<'orchestrator' | 'delivery' | 'ingest', AppProcess>;
  /** POST /api/streams and return the body (throws with the body on a non-2xx). */
  startStream(body: Record<string, unknown>): Promise<StreamView>;
  /** A call with the admin token. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of many shapes; each test checks what it reads
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
  /** Stops one app (SIGTERM, then SIGKILL after `graceMs`) and waits until it has exited; `apps[name]` keeps the old process. */
  stopApp(name: AppName, graceMs?: number): Promise<void>;
  /** Starts one app again with the mesh's environment, replaces `apps[name]`, and resolves once it is healthy. */
  startApp(name: AppName): Promise<AppProcess>;
  /** A test's own connection to the mesh's NATS, with full rights (the orchestrator's credential when auth is on). */
  connectBus(name: string): Promise<Bus>;
}

export type AppName = 'orchestrator' | 'delivery' | 'ingest';

export interface StreamView {
  id: string;
  state: string;
  publish: { rtmp: string };
  playback: { hls: string };
  chain: { version: number; hops: { service: string; subject: string; params: Record<string, unknown>; fusedThrough?: number; fusedInto?: number }[] };
}

async function waitHealthy(url: string, app: AppProcess, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${app.name} to be healthy at ${url}`, timeoutMs, async () => (await fetch(url)).ok, {
    intervalMs: 200,
    retryErrors: true, // not listening yet
    detail: () => app.tail(40),
  });
}

/** The environment of a mesh on free ports around `natsUrl` (also what a test gives `livemesh up`). */
export async function meshEnv(natsUrl: string, dataDir: string, extraEnv: Record<string, string> = {}): Promise<Record<string, string>> {
  const [http, rtmp, ingestHttp, delivery] = [await freePort(), await freePort(), await freePort(), await freePort()];
  return {
    NATS_URL: natsUrl,
    HTTP_PORT: String(http),
    RTMP_PORT: String(rtmp),
    INGEST_HTTP_PORT: String(ingestHttp),
    DELIVERY_PORT: String(delivery),
    DELIVERY_URL: `http://127.0.0.1:${delivery}`,
    LIVEMESH_DATA_DIR: dataDir,
    IDLE_GRACE_SECONDS: '5',
    ...ALLOW_LOOPBACK_SOURCES,
    // The orchestrator's bootstrap admin token; harness calls send it (test/support/auth.ts).
    ...ADMIN_TOKEN_ENV,
    ...extraEnv,
  };
}

export interface MeshOptions {
  /**
   * Start nats-server with JWT auth, as `livemesh up` does: each app connects with its own
   * credential, the orchestrator mints one per worker, so every mesh test runs on least-privilege
   * credentials. `mesh.nats.auth` mints more (a test's own); `mesh.connectBus` connects with full
   * rights. Default: on, for every runtime (swarm workers share one credential per service; docs/security.md).
   */
  natsAuth?: boolean;
}

export async function startMesh(extraEnv: Record<string, string> = {}, opts: MeshOptions = {}): Promise<Mesh> {
  return startMeshOn(await startNatsServer({ auth: opts.natsAuth ?? true }), extraEnv);
}

/**
 * The mesh on a NATS already running (a cluster: test/support/nats-cluster.ts), with JWT auth
 * when `nats.auth` is set. `stop()` stops `nats` too.
 */
export async function startMeshOn<N extends MeshNats>(nats: N, extraEnv: Record<string, string> = {}): Promise<Mesh<N>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'livemesh-e2e-'));
  const env = await meshEnv(nats.url, dataDir, extraEnv);
  // Each app's own NATS credential, on top of the mesh's environment (read at each spawn, so a
  // test that changes `mesh.env` before startApp is heard).
  const creds: Record<AppName, Record<string, string>> = { orchestrator: {}, delivery: {}, ingest: {} };
  let adminCreds: string | undefined;
  if (nats.auth) {
    const auth = nats.auth;
    adminCreds = await auth.credsFile({ role: 'orchestrator' });
    creds.orchestrator = { NATS_CREDS: adminCreds, NATS_ACCOUNT_SIGNER: auth.signerFile };
    creds.delivery = { NATS_CREDS: await auth.credsFile({ role: 'delivery' }) };
    creds.ingest = { NATS_CREDS: await auth.credsFile({ role: 'ingest' }) };
  }
  const appEnv = (name: AppName) => ({ ...env, ...creds[name] });
  const [http, ingestHttp, delivery] = [env.HTTP_PORT, env.INGEST_HTTP_PORT, env.DELIVERY_PORT];
  const orchestrator = spawnApp('orchestrator', appEnv('orchestrator'));
  const deliveryApp = spawnApp('delivery', appEnv('delivery'));
  const ingest = spawnApp('ingest', appEnv('ingest'));
  const apps: Record<AppName, AppProcess> = { orchestrator, delivery: deliveryApp, ingest };
  const apiUrl = `http://127.0.0.1:${http}`;
  const healthUrl: Record<AppName, string> = {
    orchestrator: `${apiUrl}/health`,
    delivery: `http://127.0.0.1:${delivery}/health`,
    ingest: `http://127.0.0.1:${ingestHttp}/health`,
  };
  const stop = async () => {
    await Promise.all(Object.values(apps).map((a) => a.stop()));
    await nats.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    for (const name of Object.keys(apps) as AppName[]) await waitHealthy(healthUrl[name], apps[name]);
  } catch (e) {
    await stop();
    throw e;
  }
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(
      apiUrl + path,
      withToken({
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    nats,
    apiUrl,
    rtmpPort: Number(env.RTMP_PORT),
    env,
    apps,
    api,
    async startStream(body) {
      const r = await api('POST', '/api/streams', body);
      if (r.status !== 201 && r.status !== 200) throw new Error(`POST /api/streams -> ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body as StreamView;
    },
    stop,
    connectBus: (name) => Bus.connect({ url: nats.url, name, ...(adminCreds ? { credsFile: adminCreds } : {}) }),
    async stopApp(name, graceMs = 30_000) {
      await apps[name].stop(graceMs);
    },
    async startApp(name) {
      const app = spawnApp(name, appEnv(name));
      apps[name] = app;
      await waitHealthy(healthUrl[name], app);
      return app;
    },
  };
}

/** Polls a media playlist until it lists at least `n` segments. */
export async function waitForSegments(url: string, n: number, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  // What the last request got: a 502 from the orchestrator's proxy or a refused connection tells
  // a dead delivery apart from a playlist that stopped advancing.
  let lastAnswer = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      lastAnswer = `HTTP ${res.status}`;
      const text = await res.text();
      if (res.ok) {
        last = text;
        if ((last.match(/^#EXTINF/gm) ?? []).length >= n) return last;
      } else lastAnswer += `: ${text.slice(0, 300)}`;
    } catch (e) {
      lastAnswer = `request failed: ${(e as Error).message}`;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not list ${n} segments within ${timeoutMs} ms; last answer: ${lastAnswer}; last playlist:\n${last}`);
}
