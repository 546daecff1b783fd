import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@livemesh/contracts';
import { RELAY_SOCKET_NAME, prepareRelayDir, relayTargets, serveLoopbackRelay, serveUnixRelay, unixSocketOf, type Relay } from './socket.relay.js';

/** A loopback TCP server that echoes what it gets, standing in for nats-server. */
async function echoServer(): Promise<{ port: number; sockets: Set<net.Socket>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** Sends `data` on a new connection to `port` and collects as many bytes back. */
function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const s = net.createConnection({ host: '127.0.0.1', port }, () => s.write(data));
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) {
        s.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed after ${got} of ${data.length} bytes`)));
  });
}

/** Resolves when the socket closes; rejects after 3 s. */
const closed = (s: net.Socket) =>
  new Promise<void>((resolve, reject) => {
    if (s.destroyed) return resolve();
    const t = setTimeout(() => reject(new Error('the socket is still open after 3 s')), 3_000);
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(what()).toBe(true);
};

describe('bus socket relay', () => {
  let dir: string;
  let echo: Awaited<ReturnType<typeof echoServer>>;
  const relays: Relay[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lm-relay-'));
    echo = await echoServer();
  });

  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.close()));
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function chain(opts: { maxConnections?: number } = {}) {
    const socketDir = await prepareRelayDir(join(dir, 'relay'));
    const unix = await serveUnixRelay(socketDir, [{ host: '127.0.0.1', port: echo.port }], opts);
    const loop = await serveLoopbackRelay(join(socketDir, RELAY_SOCKET_NAME));
    relays.push(loop, unix);
    return { socketDir, unix, loop };
  }

  it('carries bytes both ways, TCP -> unix socket -> TCP, a megabyte intact', async () => {
    const { loop } = await chain();
    const data = randomBytes(1024 * 1024);
    expect((await roundTrip(loop.port, data)).equals(data)).toBe(true);
    expect(loop.address).toBe(`127.0.0.1:${loop.port}`);
  });

  it('keeps others off the socket on the host: its directory is 0700, the mounted one 0755, the socket 0666', async () => {
    const { socketDir } = await chain();
    expect((await stat(join(dir, 'relay'))).mode & 0o777).toBe(0o700);
    expect((await stat(socketDir)).mode & 0o777).toBe(0o755);
    const sock = await stat(join(socketDir, RELAY_SOCKET_NAME));
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o666);
  });

  it('closes the client side when the server side closes, and the server side when the relay closes', async () => {
    const { unix, loop } = await chain();
    const client = net.createConnection({ host: '127.0.0.1', port: loop.port });
    client.on('error', () => undefined);
    await until(() => echo.sockets.size === 1);
    expect(unix.connections()).toBe(1);
    for (const s of echo.sockets) s.destroy();
    await closed(client);
    await until(() => unix.connections() === 0 && loop.connections() === 0);

    const second = net.createConnection({ host: '127.0.0.1', port: loop.port });
    second.on('error', () => undefined);
    await until(() => echo.sockets.size === 1);
    const upstream = [...echo.sockets][0]!;
    await unix.close();
    await Promise.all([closed(upstream), closed(second)]);
  });

  it('refuses connections beyond its bound', async () => {
    const { loop } = await chain({ maxConnections: 2 });
    const clients = [0, 1, 2].map(() => net.createConnection({ host: '127.0.0.1', port: loop.port }).on('error', () => undefined));
    await until(() => echo.sockets.size === 2);
    await Promise.race(clients.map(closed));
    expect(clients.filter((c) => c.destroyed)).toHaveLength(1);
    clients.forEach((c) => c.destroy());
  });

  it('dials the next server when one refuses, and closes the client when none answers', async () => {
    const refused = await echoServer();
    const refusedPort = refused.port;
    await refused.close();
    const socketDir = await prepareRelayDir(join(dir, 'relay'));
    const unix = await serveUnixRelay(socketDir, [{ host: '127.0.0.1', port: refusedPort }, { host: '127.0.0.1', port: echo.port }]);
    const loop = await serveLoopbackRelay(join(socketDir, RELAY_SOCKET_NAME));
    relays.push(loop, unix);
    expect((await roundTrip(loop.port, Buffer.from('PING\r\n'))).toString()).toBe('PING\r\n');

    await unix.close();
    const orphan = net.createConnection({ host: '127.0.0.1', port: loop.port }).on('error', () => undefined);
    await closed(orphan);
  });

  it('reads the servers of a NATS_URL and the socket of a unix:// one', () => {
    expect(relayTargets('nats://127.0.0.1:4223, tls://nats.example:4443,nats://[::1]')).toEqual([
      { host: '127.0.0.1', port: 4223 },
      { host: 'nats.example', port: 4443 },
      { host: '::1', port: 4222 },
    ]);
    expect(() => relayTargets('ws://127.0.0.1:8080')).toThrow(ConfigError);
    expect(unixSocketOf('unix:///run/livemesh-bus/nats.sock')).toBe('/run/livemesh-bus/nats.sock');
    expect(unixSocketOf('nats://127.0.0.1:4222')).toBeUndefined();
  });

  it('refuses a data directory too long for a socket path', async () => {
    await expect(prepareRelayDir(join(dir, 'x'.repeat(120)))).rejects.toThrow(/longer than 107 bytes/);
  });
});
