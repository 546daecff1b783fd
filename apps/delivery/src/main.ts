import { Logger } from '@nestjs/common';
import { loadEnv } from '@livemesh/contracts';
import { exitOnSecondSignal } from '@livemesh/media';
import { createDeliveryApp } from './delivery.app.js';

const env = loadEnv();
const app = await createDeliveryApp(env);
// SIGTERM: stop pulling, finish the segment in hand, close NATS, then exit. A second signal exits at once.
app.enableShutdownHooks();
exitOnSecondSignal();
await app.listen(env.DELIVERY_PORT, env.LIVEMESH_BIND);
new Logger('Delivery').log(`HLS origin on http://${env.LIVEMESH_BIND}:${env.DELIVERY_PORT}/hls/<streamId>/index.m3u8`);
