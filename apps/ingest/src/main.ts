import { Logger } from '@nestjs/common';
import { loadProcessEnv } from '@livemesh/contracts';
import { exitOnSecondSignal, stopWithParent } from '@livemesh/media';
import { createIngestApp } from './ingest.app.js';

const env = loadProcessEnv('ingest');
const app = await createIngestApp(env);
// SIGTERM: no new publishers, every segmenter's last segment flushed to the bus, then NATS closes.
// A second signal exits at once.
app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
exitOnSecondSignal();
// Under `livemesh up`: a supervisor that died without stopping us is treated as a SIGTERM.
stopWithParent(env.LIVEMESH_PARENT_PID, (line) => new Logger('Ingest').warn(line));
await app.listen(env.INGEST_HTTP_PORT, env.LIVEMESH_BIND);
new Logger('Ingest').log(`HTTP (health, metrics) on http://${env.LIVEMESH_BIND}:${env.INGEST_HTTP_PORT}`);
