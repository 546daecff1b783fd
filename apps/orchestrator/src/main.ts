import { Logger } from '@nestjs/common';
import { loadEnv } from '@livemesh/contracts';
import { createOrchestratorApp } from './orchestrator.app.js';

const env = loadEnv();
const app = await createOrchestratorApp(env);
await app.startAllMicroservices();
await app.listen(env.HTTP_PORT, env.LIVEMESH_BIND);
new Logger('Orchestrator').log(`listening on http://${env.LIVEMESH_BIND}:${env.HTTP_PORT} (API /api, docs /api/docs, HLS /hls)`);
