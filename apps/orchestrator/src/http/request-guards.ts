import { isIP } from 'node:net';
import { splitList, type Env } from '@livemesh/contracts';

interface Req {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
}
interface Res {
  status(code: number): { json(body: unknown): void };
}
type Next = () => void;

/** Names answered whatever the configuration: loopback. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** The host part of a Host header, lower case, without port, brackets or a trailing dot; undefined when it is not one. */
export function hostOfHeader(header: string): string | undefined {
  const h = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6) return v6[1];
  const m = /^([a-z0-9._-]+?)\.?(?::\d{1,5})?$/.exec(h);
  return m?.[1];
}

/**
 * The Host names the orchestrator answers to: loopback names, LIVEMESH_BIND and
 * LIVEMESH_PUBLIC_HOST (unless a wildcard address), and LIVEMESH_ALLOWED_HOSTS; `'*'` for any.
 */
export function allowedHosts(env: Pick<Env, 'LIVEMESH_ALLOWED_HOSTS' | 'LIVEMESH_BIND' | 'LIVEMESH_PUBLIC_HOST'>): Set<string> | '*' {
  if (env.LIVEMESH_ALLOWED_HOSTS.trim() === '*') return '*';
  const names = [...LOOPBACK_NAMES, env.LIVEMESH_BIND, env.LIVEMESH_PUBLIC_HOST, ...splitList(env.LIVEMESH_ALLOWED_HOSTS)];
  return new Set(names.map((n) => hostOfHeader(n.includes(':') && !n.startsWith('[') && isIP(n) === 6 ? `[${n}]` : n)).filter((n): n is string => !!n));
}

/**
 * Why a Host header is refused, or undefined when it is allowed. An IP address is always allowed
 * (a page served from a name that rebinds to us carries that name, never an address, as Vite's
 * `server.allowedHosts` reasons too), and so is `*.localhost`; other names must be listed.
 */
export function hostProblem(header: string | undefined, allowed: Set<string> | '*'): string | undefined {
  if (allowed === '*') return undefined;
  if (!header) return 'the request has no Host header';
  const host = hostOfHeader(header);
  if (!host) return `Host "${header.slice(0, 100)}" is not a host name`;
  if (isIP(host) || allowed.has(host) || host.endsWith('.localhost')) return undefined;
  return `Host "${host}" is not one this orchestrator answers to; add it to LIVEMESH_ALLOWED_HOSTS (a guard against DNS rebinding)`;
}

/** Express middleware: 421 LM_HOST_NOT_ALLOWED for a Host the allow-list does not hold. */
export function hostCheck(allowed: Set<string> | '*') {
  return (req: Req, res: Res, next: Next): void => {
    const host = req.headers.host;
    const problem = hostProblem(Array.isArray(host) ? host[0] : host, allowed);
    if (!problem) return next();
    res.status(421).json({ statusCode: 421, error: 'Misdirected Request', message: problem, code: 'LM_HOST_NOT_ALLOWED' });
  };
}

/** Whether a Content-Type names JSON: application/json or application/<something>+json, any parameters. */
export function isJsonType(type: string | undefined): boolean {
  const base = (type ?? '').split(';')[0]!.trim().toLowerCase();
  return base === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(base);
}

/** Express middleware: a request that carries a body must say it is JSON (415 LM_NOT_JSON), before anything reads it. */
export function jsonBodiesOnly() {
  return (req: Req, res: Res, next: Next): void => {
    const length = req.headers['content-length'];
    const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
    const type = req.headers['content-type'];
    if (!hasBody || isJsonType(Array.isArray(type) ? type[0] : type)) return next();
    res.status(415).json({
      statusCode: 415,
      error: 'Unsupported Media Type',
      message: `the request body must be JSON sent as Content-Type: application/json, not ${type ? `"${String(type).slice(0, 100)}"` : 'without a Content-Type'}`,
      code: 'LM_NOT_JSON',
    });
  };
}
