import { createServer, connect, type Server, type Socket } from 'node:net';
import { EgressProxy, EgressRequestError, closingResponseHead, ffmpegNetworkEnv, parseAuthority, parseEgressRequest } from './egress.proxy.js';
import { parseAddressRanges } from './source-url.policy.js';

function refusal(head: string): EgressRequestError {
  try {
    parseEgressRequest(head);
  } catch (e) {
    if (e instanceof EgressRequestError) return e;
    throw e;
  }
  throw new Error(`not refused: ${head}`);
}

describe('parseEgressRequest', () => {
  it('reads CONNECT targets: names, IPv4 and bracketed IPv6, with a port', () => {
    expect(parseEgressRequest('CONNECT cdn.example.com:443 HTTP/1.1\r\nHost: 127.0.0.1:9')).toEqual({ kind: 'connect', host: 'cdn.example.com', port: 443 });
    expect(parseEgressRequest('CONNECT CDN.Example.COM.:8443 HTTP/1.1')).toEqual({ kind: 'connect', host: 'cdn.example.com', port: 8443 });
    expect(parseEgressRequest('CONNECT 93.184.216.34:443 HTTP/1.0')).toEqual({ kind: 'connect', host: '93.184.216.34', port: 443 });
    expect(parseEgressRequest('CONNECT [2606:2800:220:1::1]:443 HTTP/1.1')).toEqual({ kind: 'connect', host: '2606:2800:220:1::1', port: 443 });
  });

  it.each(([
    ['CONNECT cdn.example.com HTTP/1.1', 400, /has no port/],
    ['CONNECT cdn.example.com:0 HTTP/1.1', 400, /port 0 is not 1-65535/],
    ['CONNECT cdn.example.com:65536 HTTP/1.1', 400, /port 65536/],
    ['CONNECT cdn.example.com:443x HTTP/1.1', 400, /not host:port/],
    ['CONNECT user@cdn.example.com:443 HTTP/1.1', 400, /not host:port/],
    ['CONNECT [cdn.example.com]:443 HTTP/1.1', 400, /not host:port|IPv6/],
    ['CONNECT [1.2.3.4]:443 HTTP/1.1', 400, /not an IPv6 address/],
    ['CONNECT -x.example:443 HTTP/1.1', 400, /not a host name/],
    ['CONNECT cdn.example.com:443 HTTP/2.0', 400, /malformed request line/],
    ['CONNECT  cdn.example.com:443 HTTP/1.1', 400, /malformed request line/],
    ['connect cdn.example.com:443 HTTP/1.1', 400, /malformed request line/],
    ['GET /index.m3u8 HTTP/1.1\r\nHost: cdn.example.com', 400, /absolute http:\/\/ URL/],
    ['GET https://cdn.example.com/a.m3u8 HTTP/1.1', 400, /absolute http:\/\/ URL/],
    ['GET http://u:p@cdn.example.com/a HTTP/1.1', 400, /credentials/],
    ['GET http://cdn.example.com/a HTTP/1.1\r\nContent-Length: 5', 400, /body/],
    ['GET http://cdn.example.com/a HTTP/1.1\r\nTransfer-Encoding: chunked', 400, /body/],
    ['GET http://cdn.example.com/a HTTP/1.1\r\nbroken header', 400, /malformed header/],
    ['GET http://cdn.example.com/a HTTP/1.1\r\nX: a\u0000b', 400, /control characters/],
    ['POST http://cdn.example.com/a HTTP/1.1', 405, /method POST is not allowed/],
    ['DELETE http://cdn.example.com/a HTTP/1.1', 405, /method DELETE/],
    [`GET http://cdn.example.com/a HTTP/1.1\r\n${'X-A: b\r\n'.repeat(65)}`.trimEnd(), 431, /more than 64 headers/],
    [`GET http://cdn.example.com/${'a'.repeat(17_000)} HTTP/1.1`, 431, /too large/],
  ] as const).map(([head, status, why]) => [JSON.stringify(head).slice(0, 70), head, status, why] as const))('refuses %s with its status', (_label, head, status, why) => {
    const e = refusal(head);
    expect(e.status).toBe(status);
    expect(e.message).toMatch(why);
  });

  it('rewrites a plain request for the origin: origin-form, Host from the URL, no hop-by-hop headers, one request per connection', () => {
    const head = [
      'GET http://cdn.example.com:8080/live/index.m3u8?t=1 HTTP/1.1',
      'User-Agent: Lavf/59.27.100',
      'Host: 127.0.0.1:1',
      'Connection: keep-alive',
      'Proxy-Authorization: Basic eDp5',
      'Keep-Alive: timeout=5',
      'Range: bytes=0-',
    ].join('\r\n');
    expect(parseEgressRequest(head)).toEqual({
      kind: 'forward',
      method: 'GET',
      host: 'cdn.example.com',
      port: 8080,
      path: '/live/index.m3u8?t=1',
      head: 'GET /live/index.m3u8?t=1 HTTP/1.1\r\nHost: cdn.example.com:8080\r\nUser-Agent: Lavf/59.27.100\r\nRange: bytes=0-\r\nConnection: close\r\n\r\n',
    });
    expect(parseEgressRequest('HEAD http://[::1]?x HTTP/1.0')).toMatchObject({ host: '::1', port: 80, head: 'HEAD /?x HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n' });
  });

  it('reads authorities with a default port', () => {
    expect(parseAuthority('example.com', 80)).toEqual({ host: 'example.com', port: 80 });
    expect(() => parseAuthority('example.com')).toThrow(/has no port/);
  });

  it('makes a response close its connection', () => {
    expect(closingResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5')).toBe('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n');
  });

  it("leaves ffmpeg no proxy variable of the environment to follow (no_proxy would skip the proxy)", () => {
    expect(ffmpegNetworkEnv({ PATH: '/bin', no_proxy: '*', NO_PROXY: '*', http_proxy: 'http://x', HTTPS_PROXY: 'http://x', all_proxy: 'x' })).toEqual({ PATH: '/bin' });
  });
});

describe('EgressProxy on loopback', () => {
  // Only 127.0.0.1 is allowed; 127.0.0.2 stands for every address outbound traffic may not reach.
  const allow = parseAddressRanges('127.0.0.1/32');
  let origin: Server;
  let trap: Server;
  let port: number;
  const originRequests: string[] = [];
  const trapped: string[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    origin = createServer((s) => {
      s.once('data', (d) => {
        originRequests.push(String(d));
        if (String(d).startsWith('GET')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello');
        else {
          // After CONNECT: an echo.
          s.write(d);
          s.pipe(s);
        }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    port = (origin.address() as { port: number }).port;
    // The same port on 127.0.0.2: whatever reaches it went where the rule says no.
    trap = createServer((s) => {
      trapped.push(String(s.remoteAddress));
      s.destroy();
    });
    await new Promise<void>((r) => trap.listen(port, '127.0.0.2', r));
  });

  afterAll(async () => {
    await new Promise((r) => origin.close(r));
    await new Promise((r) => trap.close(r));
  });

  beforeEach(() => {
    originRequests.length = 0;
    trapped.length = 0;
    logs.length = 0;
  });

  async function start(lookup: (host: string) => Promise<string[]>, maxConnections?: number): Promise<EgressProxy> {
    const proxy = new EgressProxy({ allow, lookup, maxConnections, log: (level, line) => logs.push(`${level} ${line}`) });
    await proxy.start();
    return proxy;
  }

  /** Sends `text` to the proxy and reads until it closes (or `until` matches). */
  async function exchange(proxy: EgressProxy, text: string, until?: RegExp): Promise<{ reply: string; socket: Socket }> {
    const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1');
    socket.write(text);
    let reply = '';
    await new Promise<void>((resolve) => {
      socket.on('data', (d) => {
        reply += String(d);
        if (until?.test(reply)) resolve();
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
      setTimeout(resolve, 5000).unref();
    });
    return { reply, socket };
  }

  it('resolves once and connects to the address it checked, whatever the name answers next (no rebinding)', async () => {
    let calls = 0;
    // First answer allowed, every later one refused: a proxy that looked the name up again to connect would reach the trap.
    const proxy = await start(async () => (calls++ === 0 ? ['127.0.0.1'] : ['127.0.0.2']));
    try {
      const { reply } = await exchange(proxy, `GET http://rebind.test:${port}/a.ts HTTP/1.1\r\nHost: rebind.test\r\n\r\n`);
      expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(reply).toMatch(/\r\nConnection: close\r\n\r\nhello$/);
      expect(reply).not.toMatch(/keep-alive/);
      expect(calls).toBe(1);
      expect(originRequests).toEqual([`GET /a.ts HTTP/1.1\r\nHost: rebind.test:${port}\r\nConnection: close\r\n\r\n`]);
      // The name now answers 127.0.0.2: the next request is checked again, and refused.
      const second = await exchange(proxy, `GET http://rebind.test:${port}/b.ts HTTP/1.1\r\n\r\n`);
      expect(second.reply).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(second.reply).toMatch(/proxied host rebind\.test leads to 127\.0\.0\.2 is a loopback address/);
      expect(logs).toContainEqual(expect.stringMatching(new RegExp(`^warn egress refused: GET http://rebind\\.test:${port}/b\\.ts: proxied host rebind\\.test leads to 127\\.0\\.0\\.2`)));
      expect(proxy.refused).toBe(1);
      expect(trapped).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a CONNECT to a refused address, and a name with one refused address among allowed ones, without connecting', async () => {
    const proxy = await start(async (host) => (host === 'mixed.test' ? ['127.0.0.1', '127.0.0.2'] : ['127.0.0.2']));
    try {
      for (const target of [`127.0.0.2:${port}`, `mixed.test:${port}`, `[::ffff:127.0.0.2]:${port}`, `2130706434:${port}`]) {
        const { reply } = await exchange(proxy, `CONNECT ${target} HTTP/1.1\r\n\r\n`);
        expect(reply).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*127\.0\.0\.2 is a loopback address/);
      }
      expect(logs.filter((l) => l.startsWith('warn egress refused: CONNECT'))).toHaveLength(4);
      expect(trapped).toEqual([]);
      expect(originRequests).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('tunnels a CONNECT to an allowed address, bytes sent with the request included', async () => {
    const proxy = await start(async () => ['127.0.0.1']);
    try {
      const { reply, socket } = await exchange(proxy, `CONNECT tls.test:${port} HTTP/1.1\r\n\r\nping`, /ping$/);
      socket.destroy();
      expect(reply).toBe('HTTP/1.1 200 Connection established\r\n\r\nping');
      expect(originRequests).toEqual(['ping']);
    } finally {
      await proxy.stop();
    }
  });

  it('answers malformed requests, unknown names and too many connections itself', async () => {
    const proxy = await start(async (host) => {
      throw new Error(`ENOTFOUND ${host}`);
    }, 1);
    try {
      expect((await exchange(proxy, 'hello\r\n\r\n')).reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*malformed request line/);
      expect((await exchange(proxy, `GET http://nowhere.test:${port}/ HTTP/1.1\r\n\r\n`)).reply).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*nowhere\.test cannot be resolved/);
      expect((await exchange(proxy, `GET http://x/${'a'.repeat(20_000)}`)).reply).toMatch(/^HTTP\/1\.1 431 /);
      const held = connect(Number(new URL(proxy.url).port), '127.0.0.1');
      await new Promise((r) => held.once('connect', r));
      await new Promise((r) => setTimeout(r, 50));
      expect((await exchange(proxy, 'CONNECT a.test:1 HTTP/1.1\r\n\r\n')).reply).toMatch(/^HTTP\/1\.1 503 /);
      held.destroy();
      expect(originRequests).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});
