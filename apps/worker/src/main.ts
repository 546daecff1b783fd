// A worker hosts one stage: `LIVEMESH_SERVICE=<name> node apps/worker/dist/main.js`.
import { Logger, type LogLevel } from '@nestjs/common';
import { ConfigError, loadEnv } from '@livemesh/contracts';
import { findBuiltIn } from '@livemesh/services';
import { runStage } from '@livemesh/stage-sdk';
import { loadStage } from './stage.loader.js';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];
try {
  const env = loadEnv();
  Logger.overrideLogger(LEVELS.slice(0, LEVELS.indexOf(env.LOG_LEVEL) + 1));
  // The built-ins share this image, so a fused hop headed by this worker's stage can run them too.
  await (await runStage(await loadStage(env), { env, handleSignals: true, peers: (name) => findBuiltIn(name)?.stage })).done;
} catch (e) {
  new Logger('WorkerMain').error((e as Error).message);
  // 2: misconfigured, restarting cannot help; 1: it failed while running.
  process.exit(e instanceof ConfigError ? 2 : 1);
}
