import { NestFactory } from '@nestjs/core';
import type { LogLevel } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { DeliverySettings } from '@livemesh/contracts';
import { DeliveryModule } from './delivery.module.js';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Log levels up to and including `level`. */
export function logLevels(level: DeliverySettings['LOG_LEVEL']): LogLevel[] {
  return LEVELS.slice(0, LEVELS.indexOf(level) + 1);
}

/**
 * Builds the delivery app (connected, consumer running) without listening; main.ts and the e2e
 * tests both start it this way.
 */
export async function createDeliveryApp(env: DeliverySettings, opts: { logger?: LogLevel[] | false } = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(DeliveryModule.forRoot(env), { logger: opts.logger ?? logLevels(env.LOG_LEVEL) });
  app.disable('x-powered-by');
  // Players load from other origins; the origin is read-only, so any origin may read it.
  app.enableCors({ origin: '*', methods: ['GET', 'HEAD', 'OPTIONS'], maxAge: 86_400 });
  return app;
}
