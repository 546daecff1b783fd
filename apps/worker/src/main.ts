// A worker hosts one stage: `LIVEMESH_SERVICE=<name> node apps/worker/dist/main.js`.
import { Logger, type LogLevel } from '@nestjs/common';
import { ConfigError, loadProcessEnv } from '@livemesh/contracts';
import { ignoreBrokenLogPipes, watchParent } from '@livemesh/media';
import { findBuiltIn } from '@livemesh/services';
import { runStage } from '@livemesh/stage-sdk';
import { loadStage } from './stage.loader.js';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];
const logger = new Logger('WorkerMain');
try {
  const env = loadProcessEnv('worker');
  Logger.overrideLogger(LEVELS.slice(0, LEVELS.indexOf(env.LOG_LEVEL) + 1));
  ignoreBrokenLogPipes();
  // The built-ins share this image, so a fused hop headed by this worker's stage can run them too.
  const handle = await runStage(await loadStage(env), { env, handleSignals: true, peers: (name) => findBuiltIn(name)?.stage });
  if (env.LIVEMESH_PARENT_PID > 0) {
    // The process runtime's orchestrator died without stopping us (SIGKILL, OOM). Drain like on
    // SIGTERM: stop pulling, finish or hand back what is in hand. The next orchestrator starts its
    // own replicas; staying would make this one an orphan nobody counts or stops.
    watchParent(env.LIVEMESH_PARENT_PID, (now) => {
      logger.warn(`parent ${env.LIVEMESH_PARENT_PID} is gone (ppid now ${now}): draining, then exiting`);
      void handle.stop();
    });
  }
  await handle.done;
  process.exit(0);
} catch (e) {
  logger.error((e as Error).message);
  // 2: misconfigured, restarting cannot help; 1: it failed while running.
  process.exit(e instanceof ConfigError ? 2 : 1);
}
