import { Logger } from '@nestjs/common';
import { loadEnv } from '@livemesh/contracts';
import { createIngestApp } from './ingest.app.js';

const env = loadEnv();
const app = await createIngestApp(env);
app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
await app.listen(env.INGEST_HTTP_PORT, env.LIVEMESH_BIND);
new Logger('Ingest').log(`HTTP (health, metrics) on http://${env.LIVEMESH_BIND}:${env.INGEST_HTTP_PORT}`);
