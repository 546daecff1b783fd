import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Bus } from '@livemesh/bus';
import { STREAMS, consumers, subjects, type OrchestratorSettings } from '@livemesh/contracts';
import type { ContainerRuntime } from '@livemesh/runtime';
import { LivemeshExceptionFilter } from './http/livemesh-exception.filter.js';
import { setupOpenApi } from './http/openapi.js';
import { allowedHosts, hostCheck, jsonBodiesOnly } from './http/request-guards.js';
import { livemeshValidationPipe } from './http/validation.pipe.js';
import { OrchestratorModule } from './orchestrator.module.js';
import { JetStreamEventServer } from './platform/jetstream-event.server.js';

export interface OrchestratorOverrides {
  /** Use this runtime instead of the one LIVEMESH_RUNTIME names; its owner closes it. */
  runtime?: ContainerRuntime;
  /** Nest logger (tests pass false-y levels to keep output quiet). */
  logger?: LoggerService | LogLevel[] | false;
}

/** Largest JSON body the API reads; a larger one is refused with 413 before it is parsed. */
export const MAX_BODY_BYTES = 256 * 1024;

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/**
 * Builds the orchestrator, configured and with its platform-event consumer connected, but not
 * listening yet: call `app.startAllMicroservices()` and `app.listen(port, host)`. main.ts does
 * that; tests start it in-process with a runtime of their own.
 */
export async function createOrchestratorApp(env: OrchestratorSettings, overrides: OrchestratorOverrides = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(OrchestratorModule.forRoot(env, overrides.runtime), {
    logger: overrides.logger ?? LEVELS.slice(0, LEVELS.indexOf(env.LOG_LEVEL) + 1),
    abortOnError: false,
    bodyParser: false,
  });
  // Before anything else reads the request: a Host that is not ours (DNS rebinding) and a body
  // that is not JSON are refused here; then the JSON body is read, up to MAX_BODY_BYTES.
  app.use(hostCheck(allowedHosts(env)));
  app.use(jsonBodiesOnly());
  app.useBodyParser('json', { limit: MAX_BODY_BYTES, type: ['application/json', 'application/*+json'] });
  // body-parser's errors (too large, malformed JSON) reach express, not Nest's filters: answer them in the API's shape.
  app.use((err: { status?: number; type?: string; message?: string }, _req: unknown, res: { status(c: number): { json(b: unknown): void } }, next: (e?: unknown) => void) => {
    if (err?.type === 'entity.too.large') {
      return res.status(413).json({ statusCode: 413, error: 'Payload Too Large', message: `request body is larger than ${MAX_BODY_BYTES} bytes`, code: 'LM_BODY_TOO_LARGE' });
    }
    if (err?.type === 'entity.parse.failed') return res.status(400).json({ statusCode: 400, error: 'Bad Request', message: `request body is not valid JSON: ${err.message}` });
    next(err);
  });
  app.useGlobalPipes(livemeshValidationPipe());
  app.useGlobalFilters(new LivemeshExceptionFilter());
  app.enableShutdownHooks();
  app.connectMicroservice(
    {
      strategy: new JetStreamEventServer(app.get(Bus), {
        stream: STREAMS.events,
        durable: consumers.platformEvents,
        filterSubject: subjects.platformAll,
      }),
    },
    { inheritAppConfig: false },
  );
  setupOpenApi(app);
  return app;
}
