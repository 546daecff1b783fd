import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { SourceUrlError } from '@livemesh/contracts';
import { checkHostAddresses, parseIp, type AddressLookup, type AddressRange } from './source-url.policy.js';

/**
 * The egress proxy: ffmpeg's only way out for http(s) (`-http_proxy`). Every request and every
 * CONNECT names its host; the proxy resolves it once, holds every address to the outbound rule
 * (checkHostAddresses, the same rule and LIVEMESH_ALLOW_PRIVATE_SOURCES as the source URL), and
 * connects to a checked address itself. So redirects and the URLs an HLS playlist names (each a
 * new request) are held to the rule, and a name cannot resolve to something else between the
 * check and the connection (DNS rebinding): the checked address is the connected one.
 */

/**
 * The environment for an ffmpeg that opens outside URLs: without the proxy variables it reads
 * (`http_proxy`, and `no_proxy`, which would let a host matching it skip the egress proxy), in any
 * case, so only the `-http_proxy` livemesh passes decides.
 */
export function ffmpegNetworkEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !/^(https?|no|all|ftp)_proxy$/i.test(name)));
}

/** What ffmpeg asked the proxy for: a TLS tunnel (https) or a plain HTTP request to forward. */
export type EgressRequest =
  | { kind: 'connect'; host: string; port: number }
  | { kind: 'forward'; method: 'GET' | 'HEAD'; host: string; port: number; path: string; head: string };

/** A request the proxy answers itself, with this status and reason. */
export class EgressRequestError extends Error {
  constructor(
    readonly status: 400 | 403 | 405 | 431 | 502 | 503 | 504,
    message: string,
  ) {
    super(message);
    this.name = 'EgressRequestError';
  }
}

/** Largest request head (request line and headers) the proxy reads. */
export const MAX_HEAD_BYTES = 16 * 1024;
const MAX_HEADERS = 64;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A host as a request may name it: a DNS name or an IPv4 literal (IPv6 comes bracketed). */
const NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?$/;
/** Headers that concern one connection (RFC 9110 7.6.1) or the proxy, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade', 'host']);

function bad(message: string): never {
  throw new EgressRequestError(400, message);
}

/** `host:port` or `[v6]:port`, as CONNECT and an absolute URL's authority name it. */
export function parseAuthority(text: string, defaultPort?: number): { host: string; port: number } {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]/@\s]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) bad(`"${text.slice(0, 80)}" is not host:port`);
  const rawHost = m[1]!;
  let host: string;
  if (rawHost.startsWith('[')) {
    const inner = rawHost.slice(1, -1);
    if (!parseIp(inner) || !inner.includes(':')) bad(`"${rawHost.slice(0, 80)}" is not an IPv6 address`);
    host = inner.toLowerCase();
  } else {
    if (!NAME.test(rawHost)) bad(`"${rawHost.slice(0, 80)}" is not a host name`);
    host = rawHost.toLowerCase().replace(/\.$/, '');
  }
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port === undefined) bad(`"${text.slice(0, 80)}" has no port`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) bad(`port ${m[2]} is not 1-65535`);
  return { host, port };
}

/**
 * Reads a request head (up to, not including, the blank line). CONNECT host:port opens a tunnel
 * (https); GET and HEAD with an absolute http:// URL are forwarded, with the head rewritten for
 * the origin: origin-form target, Host from the URL (the host that was checked, whatever Host
 * header the client sent), hop-by-hop headers dropped, `Connection: close` (one request per
 * connection: a connection the proxy checked is never reused for another host). Anything else,
 * a body included, is refused. A pure function.
 */
export function parseEgressRequest(head: string): EgressRequest {
  if (head.length > MAX_HEAD_BYTES) throw new EgressRequestError(431, 'request head too large');
  const lines = head.split('\r\n');
  const m = /^([A-Z]{1,16}) (\S{1,8192}) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
  if (!m) bad('malformed request line');
  const [, method, target] = m as unknown as [string, string, string];
  const fields: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) bad('malformed header line');
    const value = line.slice(colon + 1).trim();
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) bad(`header ${name} has control characters`);
    fields.push([name, value]);
  }
  if (fields.length > MAX_HEADERS) throw new EgressRequestError(431, `more than ${MAX_HEADERS} headers`);
  if (method === 'CONNECT') return { kind: 'connect', ...parseAuthority(target) };
  if (method !== 'GET' && method !== 'HEAD') throw new EgressRequestError(405, `method ${method} is not allowed (GET, HEAD, CONNECT)`);
  const u = /^http:\/\/([^/?#\s]+)([/?][^#\s]*)?$/i.exec(target);
  if (!u) bad(`request target must be an absolute http:// URL`);
  const authority = u[1]!;
  if (authority.includes('@')) bad('request URL must not carry credentials');
  const { host, port } = parseAuthority(authority, 80);
  for (const [name, value] of fields) {
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding' || (lower === 'content-length' && value !== '0')) bad('a request body is not allowed');
  }
  const path = u[2] === undefined ? '/' : u[2].startsWith('?') ? `/${u[2]}` : u[2];
  const hostHeader = `${host.includes(':') ? `[${host}]` : host}${port === 80 ? '' : `:${port}`}`;
  const kept = fields.filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())).map(([n, v]) => `${n}: ${v}\r\n`);
  const out = `${method} ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\n${kept.join('')}Connection: close\r\n\r\n`;
  return { kind: 'forward', method, host, port, path, head: out };
}

/**
 * An origin's response head with `Connection: close` in place of its own connection headers:
 * the client then opens a new connection (and so a new check) for its next request.
 */
export function closingResponseHead(head: string): string {
  const lines = head.split('\r\n').filter((l, i) => i === 0 || !/^(connection|keep-alive|proxy-connection)\s*:/i.test(l));
  return `${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`;
}

export interface EgressProxyOptions {
  allow: readonly AddressRange[];
  /** The resolver (default: getaddrinfo, as ffmpeg uses); each request resolves its host once. */
  lookup?: AddressLookup;
  /** Connections open at once (client side); beyond it, 503. Default 64. */
  maxConnections?: number;
  /** Reading the request head, and connecting to the origin, ms. Default 10 s. */
  timeoutMs?: number;
  /** A relayed connection silent this long is closed, ms. Default 60 s. */
  idleMs?: number;
  /** Where refusals (and failures) are reported: one line each, naming host, port and why. */
  log: (level: 'warn' | 'debug', line: string) => void;
}

/**
 * The proxy server, bound to 127.0.0.1 on a port of the system's choosing: one per process that
 * runs ffmpeg on URLs from outside (ingest). Give ffmpeg `url` as `-http_proxy`.
 */
export class EgressProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly maxConnections: number;
  private readonly timeoutMs: number;
  private readonly idleMs: number;
  /** Requests refused by the address rule since start (what a test or metric reads). */
  refused = 0;

  constructor(private readonly o: EgressProxyOptions) {
    this.maxConnections = o.maxConnections ?? 64;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.idleMs = o.idleMs ?? 60_000;
  }

  /** `http://127.0.0.1:<port>`, once started. */
  get url(): string {
    const addr = this.server?.address();
    if (!addr || typeof addr === 'string') throw new Error('egress proxy is not running');
    return `http://127.0.0.1:${addr.port}`;
  }

  async start(): Promise<string> {
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private accept(client: Socket): void {
    client.on('error', () => client.destroy());
    if (this.sockets.size >= this.maxConnections) {
      this.answer(client, new EgressRequestError(503, `more than ${this.maxConnections} connections at once`));
      return;
    }
    this.track(client);
    client.setTimeout(this.timeoutMs, () => client.destroy());
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_HEAD_BYTES) {
          client.off('data', onData);
          this.answer(client, new EgressRequestError(431, 'request head too large'));
        }
        return;
      }
      client.off('data', onData);
      client.pause();
      const head = buffered.subarray(0, end).toString('latin1');
      const rest = buffered.subarray(end + 4);
      void this.handle(client, head, rest).catch((e: Error) => {
        const err = e instanceof EgressRequestError ? e : new EgressRequestError(502, e.message);
        this.answer(client, err);
      });
    };
    client.on('data', onData);
  }

  private async handle(client: Socket, head: string, rest: Buffer): Promise<void> {
    const req = parseEgressRequest(head);
    const authority = `${req.host.includes(':') ? `[${req.host}]` : req.host}:${req.port}`;
    // Without the query, which may carry a token.
    const what = req.kind === 'connect' ? `CONNECT ${authority}` : `${req.method} http://${authority}${req.path.split('?')[0]}`;
    let addresses: string[];
    try {
      addresses = await checkHostAddresses('proxied', req.host, this.o.allow, this.o.lookup);
    } catch (e) {
      if (!(e instanceof SourceUrlError)) throw e;
      const status = e.code === 'LM_PRIVATE_ADDRESS' ? 403 : 502;
      if (status === 403) this.refused++;
      this.o.log('warn', `egress refused: ${what}: ${e.message}`);
      throw new EgressRequestError(status, e.message);
    }
    const upstream = await this.connect(addresses, req.port);
    this.o.log('debug', `egress: ${what} via ${upstream.remoteAddress ?? '?'}`);
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    if (req.kind === 'connect') {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (rest.length > 0) upstream.write(rest);
      this.relay(client, upstream);
      return;
    }
    // A GET carries no body: whatever followed the head is not ours to send on.
    upstream.write(req.head);
    this.relayResponse(client, upstream);
  }

  /** Connects to the checked addresses in turn (never to a name): the first that answers. */
  private async connect(addresses: string[], port: number): Promise<Socket> {
    let last: Error | undefined;
    for (const address of addresses) {
      try {
        return await new Promise<Socket>((resolve, reject) => {
          const s = netConnect({ host: address, port });
          const timer = setTimeout(() => {
            s.destroy();
            reject(new EgressRequestError(504, `connecting to ${address}:${port} timed out`));
          }, this.timeoutMs);
          s.once('connect', () => {
            clearTimeout(timer);
            s.removeAllListeners('error');
            resolve(s);
          });
          s.once('error', (e) => {
            clearTimeout(timer);
            reject(e);
          });
        });
      } catch (e) {
        last = e as Error;
      }
    }
    throw new EgressRequestError(last instanceof EgressRequestError ? last.status : 502, `cannot connect to port ${port}: ${last?.message ?? 'no address'}`);
  }

  /** Ties the two sockets together: either one failing, or both idle for idleMs, closes both. */
  private pair(client: Socket, upstream: Socket): () => void {
    this.track(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.setTimeout(this.idleMs, close);
      s.on('error', close);
    }
    client.on('close', close);
    return close;
  }

  /** Bytes both ways until either side closes. */
  private relay(client: Socket, upstream: Socket): void {
    const close = this.pair(client, upstream);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  /** The origin's response, its head rewritten to close the connection, then the body as it comes. */
  private relayResponse(client: Socket, upstream: Socket): void {
    const close = this.pair(client, upstream);
    // The client sends nothing more on this connection; reading keeps its close visible.
    client.on('data', () => undefined);
    client.resume();
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > 64 * 1024) close();
        return;
      }
      upstream.off('data', onData);
      client.write(closingResponseHead(buffered.subarray(0, end).toString('latin1')), 'latin1');
      client.write(buffered.subarray(end + 4));
      upstream.pipe(client);
    };
    upstream.on('data', onData);
    upstream.on('end', () => client.end());
  }

  private answer(client: Socket, e: EgressRequestError): void {
    const reasons: Record<EgressRequestError['status'], string> = {
      400: 'Bad Request', 403: 'Forbidden', 405: 'Method Not Allowed', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
    };
    const body = `${e.message}\n`;
    if (client.destroyed) return;
    // Destroyed once written: the socket may be paused, and would not see the client close.
    client.end(`HTTP/1.1 ${e.status} ${reasons[e.status]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => client.destroy());
  }
}
