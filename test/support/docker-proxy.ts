// A filtering Docker API proxy for the tests, standing in for tecnativa/docker-socket-proxy: a
// loopback HTTP listener that forwards to the engine's unix socket only the API sections
// docs/security.md ("Containers") says the docker runtime needs, and answers 403 to the rest.
// Pointing the orchestrator's DOCKER_HOST at it proves that list is enough.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The sections of docs/security.md's list for LIVEMESH_RUNTIME=docker (tecnativa: CONTAINERS, IMAGES, EVENTS, PING, VERSION, POST). */
export const DOCKER_RUNTIME_SECTIONS = ['_ping', 'version', 'containers', 'images', 'events'] as const;

export interface DockerProxy {
  /** DOCKER_HOST for clients: tcp://127.0.0.1:<port>. */
  host: string;
  /** `METHOD /path` (API version prefix removed) of each request forwarded, and of each refused. */
  served: string[];
  refused: string[];
  stop(): Promise<void>;
}

export async function startDockerProxy(engineSocket: string, sections: readonly string[] = DOCKER_RUNTIME_SECTIONS): Promise<DockerProxy> {
  const served: string[] = [];
  const refused: string[] = [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
    const what = `${req.method} ${path}`;
    if (!sections.includes(path.split('/')[1] ?? '')) {
      refused.push(what);
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `${what} is not allowed by the proxy` }));
      return;
    }
    served.push(what);
    const up = http.request({ socketPath: engineSocket, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', (e) => res.destroy(e));
    // A client that goes away (the runtime closing its event stream) ends the engine request too.
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    refused,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
