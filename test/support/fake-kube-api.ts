// A fake Kubernetes API server for the k8s runtime's tests (no cluster runs on these machines): a
// real HTTP server on 127.0.0.1 that serves just the calls the runtime makes, records each, and
// keeps the objects in memory. It is not Kubernetes: no admission, no field-ownership conflicts,
// no controllers but two stand-ins: a Deployment's pods appear (ready) as its replica count says,
// and a ScaledObject's bounds clamp its target's count as KEDA would.
//   GET|PATCH  /apis/apps/v1/namespaces/:ns/deployments/:name        (PATCH: server-side apply)
//   PATCH      /apis/apps/v1/namespaces/:ns/deployments/:name/scale  (merge patch of spec.replicas)
//   GET|PATCH  /api/v1/namespaces/:ns/secrets/:name                  (PATCH: server-side apply)
//   GET|PATCH  /apis/keda.sh/v1alpha1/namespaces/:ns/scaledobjects/:name (PATCH: server-side apply)
//   GET        /api/v1/namespaces/:ns/pods?labelSelector=k=v,...
// Anything else answers 404 and is recorded, so a test sees calls it did not expect.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API objects of many kinds
type Obj = Record<string, any>;

export interface KubeCall {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  authorization?: string;
  body?: Obj;
  status: number;
}

export interface FakeKubeApi {
  url: string;
  calls: KubeCall[];
  /** Stored objects by `kind/namespace/name`. */
  objects: Map<string, Obj>;
  /** Puts an object in as if someone else had made it (an operator's ScaledObject). */
  seed(kind: 'Deployment' | 'Secret' | 'ScaledObject', obj: Obj): void;
  get(kind: 'Deployment' | 'Secret' | 'ScaledObject', namespace: string, name: string): Obj | undefined;
  /** Pods come up ready (default) or stay Pending with this waiting reason. */
  podsPending?: string;
  /** The next PATCH is refused with this Status (an admission webhook, a quota), then the fake serves again. */
  failNextPatch?: { code: number; reason: string; message: string };
  /** Writes a kubeconfig that points at this server (bearer token `fake-token`, namespace `ns`). */
  kubeconfig(file: string, ns: string): Promise<void>;
  close(): Promise<void>;
}

const ROUTES: { re: RegExp; kind: 'Deployment' | 'Secret' | 'ScaledObject' | 'Scale' | 'Pods'; apiVersion?: string }[] = [
  { re: /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)\/scale$/, kind: 'Scale' },
  { re: /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/, kind: 'Deployment', apiVersion: 'apps/v1' },
  { re: /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/, kind: 'Secret', apiVersion: 'v1' },
  { re: /^\/apis\/keda\.sh\/v1alpha1\/namespaces\/([^/]+)\/scaledobjects\/([^/]+)$/, kind: 'ScaledObject', apiVersion: 'keda.sh/v1alpha1' },
  { re: /^\/api\/v1\/namespaces\/([^/]+)\/pods$/, kind: 'Pods' },
];

const APPLY = 'application/apply-patch+yaml';
const MERGE = 'application/merge-patch+json';

/** Objects merge field by field; lists and scalars are replaced (enough for a fake). */
function merge(into: Obj, patch: Obj): Obj {
  const out: Obj = { ...into };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k])) out[k] = merge(out[k], v);
    else out[k] = v;
  }
  return out;
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const objects = new Map<string, Obj>();
  const calls: KubeCall[] = [];
  let rv = 1;
  const key = (kind: string, ns: string, name: string) => `${kind}/${ns}/${name}`;

  const status = (res: ServerResponse, code: number, reason: string, message: string) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
    return code;
  };
  const send = (res: ServerResponse, obj: Obj) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(obj));
    return 200;
  };
  const touch = (o: Obj) => {
    o.metadata = { ...o.metadata, resourceVersion: String(rv++) };
    return o;
  };

  /** KEDA's stand-in: the target's count stays within the ScaledObject's bounds. */
  const clampTarget = (ns: string, so: Obj) => {
    const d = objects.get(key('Deployment', ns, so.spec?.scaleTargetRef?.name ?? ''));
    if (!d) return;
    const min = so.spec?.minReplicaCount ?? 0;
    const max = so.spec?.maxReplicaCount ?? 100;
    const now = d.spec.replicas ?? 1;
    d.spec.replicas = Math.min(max, Math.max(min, now));
    touch(d);
  };

  const pods = (ns: string, selector: string): Obj[] => {
    const want = Object.fromEntries(
      selector
        .split(',')
        .filter(Boolean)
        .map((kv) => kv.split('=') as [string, string]),
    );
    const out: Obj[] = [];
    for (const [k, d] of objects) {
      if (!k.startsWith(`Deployment/${ns}/`)) continue;
      const tpl = d.spec?.template?.metadata ?? {};
      if (!Object.entries(want).every(([lk, lv]) => tpl.labels?.[lk] === lv)) continue;
      for (let i = 0; i < (d.spec.replicas ?? 1); i++) {
        const ready = api.podsPending === undefined;
        out.push({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `${d.metadata.name}-${d.metadata.resourceVersion}-${i}`, namespace: ns, labels: tpl.labels, annotations: tpl.annotations, creationTimestamp: new Date().toISOString() },
          spec: { nodeName: 'fake-node', containers: d.spec.template.spec.containers },
          status: ready
            ? { phase: 'Running', startTime: new Date().toISOString(), conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'worker', ready: true, restartCount: 0, image: '', imageID: '', state: { running: {} } }] }
            : { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'worker', ready: false, restartCount: 0, image: '', imageID: '', state: { waiting: { reason: api.podsPending } } }] },
        });
      }
    }
    return out;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = ROUTES.map((r) => ({ r, m: r.re.exec(url.pathname) })).find((x) => x.m);
    const raw = Buffer.concat(await (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      return chunks;
    })()).toString('utf8');
    let body: Obj | undefined;
    if (raw) {
      try {
        body = JSON.parse(raw) as Obj;
      } catch {
        return status(res, 400, 'BadRequest', 'the fake API server reads JSON bodies only (JSON is YAML)');
      }
    }
    const call: KubeCall = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), status: 0, ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(body ? { body } : {}) };
    calls.push(call);
    if (!route) return (call.status = status(res, 404, 'NotFound', `the fake API server does not serve ${req.method} ${url.pathname}`));
    const fail = req.method === 'PATCH' ? api.failNextPatch : undefined;
    if (fail) {
      delete api.failNextPatch;
      return (call.status = status(res, fail.code, fail.reason, fail.message));
    }
    const [, ns, name] = route.m!;
    const { kind } = route.r;

    if (kind === 'Pods') {
      if (req.method !== 'GET') return (call.status = status(res, 405, 'MethodNotAllowed', 'pods: GET only'));
      return (call.status = send(res, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(rv) }, items: pods(ns!, url.searchParams.get('labelSelector') ?? '') }));
    }
    if (kind === 'Scale') {
      const d = objects.get(key('Deployment', ns!, name!));
      if (!d) return (call.status = status(res, 404, 'NotFound', `deployments.apps "${name}" not found`));
      if (req.method !== 'PATCH' || call.contentType !== MERGE) return (call.status = status(res, 415, 'UnsupportedMediaType', `scale: PATCH with ${MERGE} only`));
      const replicas = body?.spec?.replicas;
      if (!Number.isInteger(replicas) || replicas < 0) return (call.status = status(res, 422, 'Invalid', 'spec.replicas must be a non-negative integer'));
      d.spec.replicas = replicas;
      touch(d);
      return (call.status = send(res, { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name, namespace: ns }, spec: { replicas }, status: { replicas } }));
    }
    const k = key(kind, ns!, name!);
    if (req.method === 'GET') {
      const o = objects.get(k);
      return (call.status = o ? send(res, o) : status(res, 404, 'NotFound', `${kind.toLowerCase()}s "${name}" not found`));
    }
    if (req.method !== 'PATCH') return (call.status = status(res, 405, 'MethodNotAllowed', `${kind}: GET and PATCH only`));
    // Server-side apply, as the API server checks it: the content type, a field manager, and a body that names this object.
    if (call.contentType !== APPLY) return (call.status = status(res, 415, 'UnsupportedMediaType', `${kind}: the fake takes server-side apply (${APPLY}) only`));
    if (!call.query.fieldManager) return (call.status = status(res, 422, 'Invalid', 'fieldManager is required for apply requests'));
    if (!body || body.kind !== kind || body.apiVersion !== route.r.apiVersion || body.metadata?.name !== name || (body.metadata?.namespace ?? ns) !== ns) {
      return (call.status = status(res, 400, 'BadRequest', `the body must be ${route.r.apiVersion} ${kind} ${ns}/${name}`));
    }
    const before = objects.get(k);
    const next = touch(merge(structuredClone(before ?? { metadata: { uid: `uid-${rv}`, creationTimestamp: new Date().toISOString() } }), structuredClone({ ...body, metadata: { ...body.metadata, namespace: ns } })));
    const managers = new Set<string>((before?.metadata?.managedFields ?? []).map((m: Obj) => m.manager));
    managers.add(call.query.fieldManager);
    next.metadata.managedFields = [...managers].map((manager) => ({ manager, operation: 'Apply' }));
    if (kind === 'Deployment' && next.spec.replicas === undefined) next.spec.replicas = 1; // the API server's default
    objects.set(k, next);
    if (kind === 'ScaledObject') clampTarget(ns!, next);
    if (kind === 'Deployment') for (const [sk, so] of objects) if (sk.startsWith(`ScaledObject/${ns}/`) && so.spec?.scaleTargetRef?.name === name) clampTarget(ns!, so);
    return (call.status = send(res, next));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => status(res, 500, 'InternalError', e.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const api: FakeKubeApi = {
    url,
    calls,
    objects,
    seed(kind, obj) {
      objects.set(key(kind, obj.metadata.namespace, obj.metadata.name), touch(structuredClone(obj)));
    },
    get: (kind, ns, name) => objects.get(key(kind, ns, name)),
    async kubeconfig(file, ns) {
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        // Plain HTTP on loopback: client-node refuses http:// unless TLS verification is off.
        clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'fake', user: { token: 'fake-token' } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: ns } }],
        'current-context': 'fake',
      };
      await writeFile(file, JSON.stringify(config), { mode: 0o600 });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return api;
}
