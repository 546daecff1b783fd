// The permission matrix of issue 12: every HTTP route of the orchestrator, called with no token, a
// malformed one, an unknown, a revoked and an expired one, and a token of each scope, answers
// 401, 403 or what the route does; a refused call changes nothing on the bus. Real nats-server and
// orchestrator in this process (fake container runtime); the route list comes from the
// controllers themselves, so a new route without a row here fails the test.
import { request as httpRequest } from 'node:http';
import { BUCKETS, generateApiToken, hashApiSecret, loadEnv, type ApiScope, type BucketName } from '@livemesh/contracts';
import { OrchestratorModule } from '../../apps/orchestrator/src/orchestrator.module.js';
import { routeTable } from '../../apps/orchestrator/src/auth/route-table.js';
import { startInProcessOrchestrator, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';

type Who = ApiScope;
interface Row {
  method: string;
  /** The route as Nest declares it (matched against the controllers' table). */
  route: string;
  /** Who may call it: a scope (admin implies platform implies read), or public. */
  needs: ApiScope | 'public';
  /** The concrete path; per caller where each allowed call needs its own object. */
  path: string | ((who: Who) => string);
  body?: unknown | ((who: Who) => unknown);
  /** What an allowed call answers (default: any 2xx). */
  ok?: number;
}

const service = (name: string, version = '1.0.0') => ({ name, version, input: 'segments', minReplicas: 0, maxReplicas: 2, paramSchema: { type: 'object', additionalProperties: false, properties: {} } });
const WHO: Who[] = ['read', 'platform', 'admin'];

const ROWS: Row[] = [
  { method: 'GET', route: '/health', needs: 'public', path: '/health' },
  { method: 'GET', route: '/health/live', needs: 'public', path: '/health/live' },
  { method: 'GET', route: '/health/ready', needs: 'public', path: '/health/ready' },
  // Nothing listens on the delivery port: the proxy answers 502, past any auth.
  { method: 'GET', route: '/hls/*path', needs: 'public', path: '/hls/perm-live/index.m3u8', ok: 502 },
  { method: 'GET', route: '/metrics', needs: 'read', path: '/metrics' },
  // The console's page and bundle (built by npm run build): public, they hold no data.
  { method: 'GET', route: '/', needs: 'public', path: '/' },
  { method: 'GET', route: '/console/*path', needs: 'public', path: '/console/index.html' },
  { method: 'GET', route: '/api/events', needs: 'read', path: '/api/events' },
  { method: 'GET', route: '/api/bus', needs: 'read', path: '/api/bus' },
  { method: 'GET', route: '/api/console/streams', needs: 'read', path: '/api/console/streams' },
  { method: 'GET', route: '/api/console/services', needs: 'admin', path: '/api/console/services' },
  { method: 'GET', route: '/api/console/health', needs: 'read', path: '/api/console/health' },
  { method: 'POST', route: '/api/streams', needs: 'platform', path: '/api/streams', body: (who: Who) => ({ id: `perm-new-${who}` }), ok: 201 },
  { method: 'GET', route: '/api/streams', needs: 'read', path: '/api/streams' },
  { method: 'GET', route: '/api/streams/:id', needs: 'read', path: '/api/streams/perm-live' },
  { method: 'DELETE', route: '/api/streams/:id', needs: 'platform', path: (who: Who) => `/api/streams/perm-stop-${who}` },
  { method: 'POST', route: '/api/streams/:id/key', needs: 'platform', path: '/api/streams/perm-live/key', body: {} },
  { method: 'POST', route: '/api/streams/:id/playback-url', needs: 'platform', path: '/api/streams/perm-signed/playback-url', body: { ttlSeconds: 60 }, ok: 200 },
  { method: 'PATCH', route: '/api/streams/:id/chain', needs: 'platform', path: '/api/streams/perm-live/chain', body: { stages: [{ service: 'passthrough' }] } },
  { method: 'GET', route: '/api/streams/:id/thumbnail.jpg', needs: 'read', path: '/api/streams/perm-live/thumbnail.jpg', ok: 404 },
  { method: 'GET', route: '/api/services', needs: 'admin', path: '/api/services' },
  { method: 'POST', route: '/api/services', needs: 'admin', path: '/api/services', body: service('permnew'), ok: 201 },
  { method: 'GET', route: '/api/services/:name', needs: 'admin', path: '/api/services/watermark' },
  { method: 'PUT', route: '/api/services/:name', needs: 'admin', path: '/api/services/permsvc', body: service('permsvc', '1.0.1') },
  { method: 'DELETE', route: '/api/services/:name', needs: 'admin', path: '/api/services/permdel', ok: 204 },
  { method: 'POST', route: '/api/services/:name/scale', needs: 'admin', path: '/api/services/permsvc/scale', body: { replicas: 1 } },
  { method: 'GET', route: '/api/services/:name/instances', needs: 'admin', path: '/api/services/permsvc/instances' },
  { method: 'GET', route: '/api/pipelines', needs: 'admin', path: '/api/pipelines' },
  { method: 'POST', route: '/api/pipelines', needs: 'admin', path: '/api/pipelines', body: { name: 'permnew', stages: [{ service: 'passthrough' }] }, ok: 201 },
  { method: 'GET', route: '/api/pipelines/:name', needs: 'admin', path: '/api/pipelines/default' },
  { method: 'PUT', route: '/api/pipelines/:name', needs: 'admin', path: '/api/pipelines/permpipe', body: { name: 'permpipe', stages: [{ service: 'watermark' }] } },
  { method: 'DELETE', route: '/api/pipelines/:name', needs: 'admin', path: '/api/pipelines/permpipedel', ok: 204 },
  { method: 'POST', route: '/api/tokens', needs: 'admin', path: '/api/tokens', body: { name: 'made in the matrix', scopes: ['read'] }, ok: 201 },
  { method: 'GET', route: '/api/tokens', needs: 'admin', path: '/api/tokens' },
  { method: 'DELETE', route: '/api/tokens/:id', needs: 'admin', path: () => `/api/tokens/${victimId}` },
];
let victimId = '';

const grants: Record<Who, ApiScope[]> = { read: ['read'], platform: ['platform', 'read'], admin: ['admin', 'platform', 'read'] };
const pathOf = (r: Row, who: Who) => (typeof r.path === 'function' ? r.path(who) : r.path);
const bodyOf = (r: Row, who: Who) => (typeof r.body === 'function' ? (r.body as (w: Who) => unknown)(who) : r.body);

describe('API permission matrix (real NATS, in-process orchestrator)', () => {
  let o: InProcessOrchestrator;
  const tokens = {} as Record<Who | 'revoked' | 'expired', string>;

  async function call(method: string, path: string, auth: string | undefined, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; challenge: string | null }> {
    const headers: Record<string, string> = {};
    if (auth !== undefined) headers.authorization = auth;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(o.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    // GET /api/events never ends by itself: an allowed call is known by its status and type.
    if (res.ok && res.headers.get('content-type')?.startsWith('text/event-stream')) {
      await res.body?.cancel();
      return { status: res.status, body: {}, challenge: res.headers.get('www-authenticate') };
    }
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      /* metrics and the like: text */
    }
    return { status: res.status, body: parsed, challenge: res.headers.get('www-authenticate') };
  }
  const admin = (method: string, path: string, body?: unknown) => call(method, path, `Bearer ${o.token}`, body);
  async function mustAdmin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await admin(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Every key and revision of the buckets an API call could write, and how many stream events were seen. */
  async function snapshot(): Promise<Record<string, unknown>> {
    const buckets: BucketName[] = [BUCKETS.streams, BUCKETS.chains, BUCKETS.keys, BUCKETS.catalogue, BUCKETS.tokens];
    const out: Record<string, unknown> = { events: o.events.length };
    for (const b of buckets) {
      const store = o.bus.store(b);
      const entries: Record<string, number> = {};
      for (const k of await store.keys()) entries[k] = (await store.get(k))?.revision ?? -1;
      out[b] = entries;
    }
    return out;
  }

  beforeAll(async () => {
    o = await startInProcessOrchestrator('api-permissions-e2e', { STREAM_IDLE_TIMEOUT_S: '0' });
    for (const who of WHO) tokens[who] = ((await mustAdmin('POST', '/api/tokens', { name: `matrix ${who}`, scopes: [who] })) as { token: string }).token;
    // A token used once (so this orchestrator has it cached), then revoked: refused from the next request on.
    const revoked = (await mustAdmin('POST', '/api/tokens', { name: 'matrix revoked', scopes: ['admin'] })) as { token: string; id: string };
    expect((await call('GET', '/api/streams', `Bearer ${revoked.token}`)).status).toBe(200);
    await mustAdmin('DELETE', `/api/tokens/${revoked.id}`);
    tokens.revoked = revoked.token;
    // An expired admin token, as a token created with a short expiry is once its time has passed.
    const expired = generateApiToken();
    await o.bus.store(BUCKETS.tokens).put(expired.id, { id: expired.id, name: 'matrix expired', scopes: ['admin'], secretSha256: hashApiSecret(expired.secret), createdAt: '2020-01-01T00:00:00.000Z', expiresAt: '2020-01-02T00:00:00.000Z' });
    tokens.expired = expired.token;
    // What the allowed calls act on.
    await mustAdmin('POST', '/api/streams', { id: 'perm-live' });
    await mustAdmin('POST', '/api/streams', { id: 'perm-signed', playback: { signed: true } });
    for (const who of WHO) await mustAdmin('POST', '/api/streams', { id: `perm-stop-${who}` });
    for (const name of ['permsvc', 'permdel']) await mustAdmin('POST', '/api/services', service(name));
    await mustAdmin('POST', '/api/pipelines', { name: 'permpipedel', stages: [{ service: 'passthrough' }] });
    victimId = ((await mustAdmin('POST', '/api/tokens', { name: 'matrix victim', scopes: ['read'] })) as { id: string }).id;
  }, 60_000);

  afterAll(async () => {
    await o?.close();
  });

  it('has a row for every route the controllers declare, with the scope the route declares', () => {
    const table = routeTable(OrchestratorModule.forRoot(loadEnv({})));
    const declared = table.map((r) => `${r.method} ${r.path} ${r.access === 'public' ? 'public' : (r.access ?? ['none']).join('|')}`).sort();
    expect(ROWS.map((r) => `${r.method} ${r.route} ${r.needs}`).sort()).toEqual(declared);
  });

  it('refuses every protected route without a usable token (401) or with too small a scope (403), and nothing changes', async () => {
    const before = await snapshot();
    const bad: [string, string | undefined, string][] = [
      ['no token', undefined, 'missing'],
      ['not Bearer', 'Basic YWRtaW46YWRtaW4=', 'malformed'],
      ['malformed', 'Bearer not-a-livemesh-token', 'malformed'],
      ['unknown', `Bearer ${generateApiToken().token}`, 'unknown'],
      ['wrong secret', `Bearer ${o.token.slice(0, -4)}AAAA`, 'unknown'],
      ['revoked', `Bearer ${tokens.revoked}`, 'revoked'],
      ['expired', `Bearer ${tokens.expired}`, 'expired'],
    ];
    const wrong: string[] = [];
    let refused = 0;
    for (const row of ROWS) {
      if (row.needs === 'public') continue;
      for (const [label, auth, reason] of bad) {
        const r = await call(row.method, pathOf(row, 'read'), auth, bodyOf(row, 'read'));
        refused++;
        const expectChallenge = reason === 'missing' ? 'Bearer realm="livemesh"' : 'Bearer realm="livemesh", error="invalid_token"';
        if (r.status !== 401 || r.body.code !== 'LM_UNAUTHENTICATED' || r.body.reason !== reason || r.challenge !== expectChallenge) {
          wrong.push(`${row.method} ${row.route} with ${label}: ${r.status} ${JSON.stringify(r.body)} ${r.challenge}`);
        }
      }
      for (const who of WHO) {
        if (grants[who].includes(row.needs)) continue;
        const r = await call(row.method, pathOf(row, who), `Bearer ${tokens[who]}`, bodyOf(row, who));
        refused++;
        const ok =
          r.status === 403 &&
          r.body.code === 'LM_FORBIDDEN' &&
          JSON.stringify(r.body.required) === JSON.stringify([row.needs]) &&
          JSON.stringify(r.body.scopes) === JSON.stringify([who]) &&
          String(r.body.message).includes(`needs scope ${row.needs}`) &&
          r.challenge === `Bearer realm="livemesh", error="insufficient_scope", scope="${row.needs}"`;
        if (!ok) wrong.push(`${row.method} ${row.route} as ${who}: ${r.status} ${JSON.stringify(r.body)} ${r.challenge}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(refused).toBeGreaterThan(150);
    // Give a call that slipped through the time to write or publish anything, then compare.
    await new Promise((r) => setTimeout(r, 300));
    expect(await snapshot()).toEqual(before);
  }, 60_000);

  it('lets every scope that grants a route call it: admin everything, platform stream changes and reads, read only reads, anyone the public routes', async () => {
    const wrong: string[] = [];
    for (const row of ROWS) {
      const callers: (Who | 'anonymous')[] = row.needs === 'public' ? ['anonymous', ...WHO] : WHO.filter((w) => grants[w].includes(row.needs as ApiScope));
      for (const who of callers) {
        const as = who === 'anonymous' ? 'read' : who;
        const r = await call(row.method, pathOf(row, as), who === 'anonymous' ? undefined : `Bearer ${tokens[who]}`, bodyOf(row, as));
        const fine = row.ok !== undefined ? r.status === row.ok : r.status >= 200 && r.status < 300;
        // POST /api/services and /api/pipelines and the token victim are one object: only the first caller creates it.
        if (!fine) wrong.push(`${row.method} ${row.route} as ${who}: ${r.status} ${JSON.stringify(r.body)}`);
      }
    }
    expect(wrong).toEqual([]);
    // What the allowed calls did is there.
    expect((await admin('GET', '/api/streams/perm-new-platform')).status).toBe(200);
    expect((await admin('GET', '/api/streams/perm-stop-platform')).body.state).toMatch(/stopping|ended/);
    expect((await admin('GET', '/api/services/permdel')).status).toBe(404);
  }, 60_000);

  it('lists tokens without a secret or hash, and refuses a revoked victim at once', async () => {
    const list = await admin('GET', '/api/tokens');
    const text = JSON.stringify(list.body);
    expect(text).not.toMatch(/secret|Sha256|lm_[a-z0-9]+_/i);
    for (const who of WHO) expect(text).not.toContain(tokens[who]!.split('_').at(-1)!);
    const rows = list.body as unknown as { id: string; name: string; revokedAt?: string; bootstrap?: boolean }[];
    expect(rows[0]).toMatchObject({ name: 'bootstrap admin', bootstrap: true });
    expect(rows.find((t) => t.id === victimId)?.revokedAt).toBeDefined();
    const boot = await admin('DELETE', `/api/tokens/${rows[0]!.id}`);
    expect([boot.status, boot.body.code]).toEqual([409, 'LM_BOOTSTRAP_TOKEN']);
    const bad = await admin('POST', '/api/tokens', { name: '', scopes: ['root'], expiresAt: 'tomorrow', extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^name must be/), expect.stringMatching(/scope must be one of admin, platform, read/), expect.stringMatching(/^expiresAt must be an ISO 8601/), 'extra: property extra should not exist']));
    expect((await admin('POST', '/api/tokens', { name: 'past', scopes: ['read'], expiresAt: '2001-01-01T00:00:00Z' })).body.problems).toEqual(['expiresAt: 2001-01-01T00:00:00Z is not in the future']);
  });

  it('refuses a body that is not JSON (415) and a Host that is not allowed (421), before anything is written', async () => {
    const before = await snapshot();
    const res = await fetch(`${o.base}/api/streams`, { method: 'POST', headers: { authorization: `Bearer ${o.token}`, 'content-type': 'text/plain' }, body: '{"id":"plain-1"}' });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ code: 'LM_NOT_JSON', message: expect.stringMatching(/must be JSON sent as Content-Type: application\/json, not "text\/plain"/) });
    const form = await fetch(`${o.base}/api/streams`, { method: 'POST', headers: { authorization: `Bearer ${o.token}` }, body: new URLSearchParams({ id: 'form-1' }) });
    expect(form.status).toBe(415);
    // fetch sets Host from the URL: a page on a name that rebinds to 127.0.0.1 sends its own name.
    const withHost = (host: string, path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${o.base}${path}`, { headers: { host, authorization: `Bearer ${o.token}` } }, (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        });
        req.once('error', reject);
        req.end();
      });
    const rebound = await withHost('attacker.example:8080', '/api/streams');
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body)).toMatchObject({ code: 'LM_HOST_NOT_ALLOWED', message: expect.stringMatching(/Host "attacker.example" is not one this orchestrator answers to; add it to LIVEMESH_ALLOWED_HOSTS/) });
    expect((await withHost('attacker.example', '/hls/perm-live/index.m3u8')).status).toBe(421);
    expect((await withHost(`localhost:${new URL(o.base).port}`, '/api/streams')).status).toBe(200);
    expect(await snapshot()).toEqual(before);
  });
});
