import { Logger } from '@nestjs/common';
import { loadProcessEnv } from '@livemesh/contracts';
import { exitOnSecondSignal, stopWithParent } from '@livemesh/media';
import { createOrchestratorApp } from './orchestrator.app.js';

const env = loadProcessEnv('orchestrator');
const app = await createOrchestratorApp(env);
// SIGTERM: platform events in hand are finished, the HTTP server closes, the runtime's workers
// drain, then NATS closes (Nest's shutdown hooks). A second signal exits at once.
exitOnSecondSignal();
// Under `livemesh up`: a supervisor that died without stopping us is treated as a SIGTERM.
stopWithParent(env.LIVEMESH_PARENT_PID, (line) => new Logger('Orchestrator').warn(line));
await app.startAllMicroservices();
await app.listen(env.HTTP_PORT, env.LIVEMESH_BIND);
new Logger('Orchestrator').log(`listening on http://${env.LIVEMESH_BIND}:${env.HTTP_PORT} (console /, API /api, docs /api/docs, HLS /hls)`);
