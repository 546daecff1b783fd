import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { Bus } from '@livemesh/bus';
import { STREAMS, consumers, subjects, type Env } from '@livemesh/contracts';
import type { ContainerRuntime } from '@livemesh/runtime';
import { LivemeshExceptionFilter } from './http/livemesh-exception.filter.js';
import { setupOpenApi } from './http/openapi.js';
import { livemeshValidationPipe } from './http/validation.pipe.js';
import { OrchestratorModule } from './orchestrator.module.js';
import { JetStreamEventServer } from './platform/jetstream-event.server.js';

export interface OrchestratorOverrides {
  /** Use this runtime instead of the one LIVEMESH_RUNTIME names; its owner closes it. */
  runtime?: ContainerRuntime;
  /** Nest logger (tests pass false-y levels to keep output quiet). */
  logger?: LoggerService | LogLevel[] | false;
}

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/**
 * Builds the orchestrator, configured and with its platform-event consumer connected, but not
 * listening yet: call `app.startAllMicroservices()` and `app.listen(port, host)`. main.ts does
 * that; tests start it in-process with a runtime of their own.
 */
export async function createOrchestratorApp(env: Env, overrides: OrchestratorOverrides = {}): Promise<INestApplication> {
  const app = await NestFactory.create(OrchestratorModule.forRoot(env, overrides.runtime), {
    logger: overrides.logger ?? LEVELS.slice(0, LEVELS.indexOf(env.LOG_LEVEL) + 1),
    abortOnError: false,
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
