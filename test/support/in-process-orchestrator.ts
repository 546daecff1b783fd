// An orchestrator started inside the test process on a real nats-server, with a container runtime
// that starts nothing: every ensure answers with a "running" instance, so a stream's hop subjects
// keep whatever a test puts on them. Events on lm.evt.stream.> are collected as they come.
import type { INestApplication } from '@nestjs/common';
import { Bus } from '@livemesh/bus';
import { loadEnv, subjects, type ServiceSpec, type StreamEvent } from '@livemesh/contracts';
import type { ContainerRuntime, ServiceInstance, StartInstruction } from '@livemesh/runtime';
import { createOrchestratorApp } from '../../apps/orchestrator/src/orchestrator.app.js';
import { freePort } from './free-port.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { ALLOW_LOOPBACK_SOURCES } from './outbound.js';
import { ADMIN_TOKEN_ENV, TEST_ADMIN_TOKEN, authFetch } from './auth.js';

const instance = (service: string): ServiceInstance => ({ id: `fake-${service}`, service, state: 'running', startedAt: new Date().toISOString() });

export class FakeRuntime implements ContainerRuntime {
  readonly kind = 'process' as const;
  async ensure(instr: StartInstruction) {
    return { instance: instance(instr.service.name), reused: false };
  }
  async scale(service: ServiceSpec) {
    return [instance(service.name)];
  }
  async list() {
    return [];
  }
  async release() {}
  async close() {}
}

export interface InProcessOrchestrator {
  nats: NatsServer;
  /** A client of its own, for publishing and inspecting the bus. */
  bus: Bus;
  app: INestApplication;
  /** http://127.0.0.1:<port> */
  base: string;
  /** Every stream event seen since the start, in order. */
  events: StreamEvent[];
  /** Its bootstrap admin token. */
  token: string;
  /** fetch(base + path) with the admin token (or `token`). */
  fetch(path: string, init?: RequestInit, token?: string): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Starts nats-server and the orchestrator (STOP_DRAIN_SECONDS=1, TEST_ADMIN_TOKEN as admin token, plus `env`), listening on 127.0.0.1.
 * `runtime` replaces the fake one (a function gets the nats-server's URL, e.g. for a ProcessRuntime's workers).
 */
export async function startInProcessOrchestrator(
  name: string,
  env: Record<string, string> = {},
  runtime: ContainerRuntime | ((natsUrl: string) => ContainerRuntime) = new FakeRuntime(),
): Promise<InProcessOrchestrator> {
  const nats = await startNatsServer();
  const port = await freePort();
  const config = loadEnv({ NATS_URL: nats.url, HTTP_PORT: String(port), DELIVERY_URL: `http://127.0.0.1:${await freePort()}`, STOP_DRAIN_SECONDS: '1', ...ALLOW_LOOPBACK_SOURCES, ...ADMIN_TOKEN_ENV, ...env });
  const app = await createOrchestratorApp(config, { runtime: typeof runtime === 'function' ? runtime(nats.url) : runtime, logger: ['error'] });
  await app.startAllMicroservices();
  await app.listen(config.HTTP_PORT, '127.0.0.1');
  const bus = await Bus.connect({ url: nats.url, name });
  const events: StreamEvent[] = [];
  bus.subscribe(subjects.streamEvents(), {
    callback: (err, msg) => {
      if (!err) events.push(msg.json<StreamEvent>());
    },
  });
  await bus.flush();
  return {
    nats,
    bus,
    app,
    base: `http://127.0.0.1:${port}`,
    events,
    token: TEST_ADMIN_TOKEN,
    fetch: (path, init, token) => authFetch(`http://127.0.0.1:${port}${path}`, init, token),
    async close() {
      await app.close();
      await bus.close();
      await nats.stop();
    },
  };
}
