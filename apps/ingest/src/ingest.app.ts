import type { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { IngestSettings } from '@livemesh/contracts';
import { IngestModule } from './ingest.module.js';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Nest's levels up to and including LOG_LEVEL. */
export function logLevels(level: IngestSettings['LOG_LEVEL']): LogLevel[] {
  return LEVELS.slice(0, LEVELS.indexOf(level) + 1);
}

/** Builds and initialises the ingest app (RTMP listening, records followed); the caller listens. */
export async function createIngestApp(env: IngestSettings): Promise<INestApplication> {
  const app = await NestFactory.create(IngestModule.forRoot(env), { logger: logLevels(env.LOG_LEVEL), abortOnError: false });
  await app.init();
  return app;
}
