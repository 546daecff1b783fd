import { Logger } from '@nestjs/common';
import { loadProcessEnv } from '@livemesh/contracts';
import { exitOnSecondSignal, stopWithParent } from '@livemesh/media';
import { createDeliveryApp } from './delivery.app.js';

const env = loadProcessEnv('delivery');
const app = await createDeliveryApp(env);
// SIGTERM: stop pulling, finish the segment in hand, close NATS, then exit. A second signal exits at once.
app.enableShutdownHooks();
exitOnSecondSignal();
// Under `livemesh up`: a supervisor that died without stopping us is treated as a SIGTERM.
stopWithParent(env.LIVEMESH_PARENT_PID, (line) => new Logger('Delivery').warn(line));
await app.listen(env.DELIVERY_PORT, env.LIVEMESH_BIND);
new Logger('Delivery').log(`HLS origin on http://${env.LIVEMESH_BIND}:${env.DELIVERY_PORT}/hls/<streamId>/index.m3u8`);
