// The bus's ConsumeLoop, which the orchestrator's durable consumers (status-event errors, segment
// faults) and delivery's ordered consumers read through, against a real nats-server: when its
// durable consumer vanishes from the server (deleted by hand, a lost store), the loop creates it
// again and reads on. (The client rides out a nats-server restart by itself; that the mesh does
// is faults-components' subject.) Without the loop, the client waits for someone else to create
// the consumer again, which in livemesh nobody does.
import { Bus, ConsumeLoop, ensureTopology, publishJson } from '@livemesh/bus';
import { STREAMS, subjects } from '@livemesh/contracts';
import { CapturingLogger } from '../support/logger.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait.js';

const DURABLE = 'consume-loop-e2e';

describe('bus: ConsumeLoop over a durable consumer', () => {
  let nats: NatsServer;
  let bus: Bus;
  let loop: ConsumeLoop;
  const seen: string[] = [];
  const logs = new CapturingLogger();
  const publish = (n: number): Promise<unknown> => publishJson(bus, subjects.streamEvent('loop', 'publishing'), { streamId: 'loop', kind: 'publishing', at: new Date().toISOString(), message: `m${n}` }, `loop-m${n}`);

  beforeAll(async () => {
    nats = await startNatsServer();
    bus = await Bus.connect({ url: nats.url, name: 'e2e-consume-loop' });
    await ensureTopology(bus, { outputRetentionSeconds: 60 });
    loop = new ConsumeLoop(
      'test consumer',
      () => bus.durableConsumer(STREAMS.events, { name: DURABLE, filter: subjects.streamEvents('loop'), ackWaitMs: 5_000, maxDeliver: 3, maxAckPending: 16 }),
      (m) => {
        seen.push(m.json<{ message: string }>().message);
        m.ack();
      },
      logs,
      { reconnects: () => bus.connectionChanges(), recreateMissing: true },
    );
    await loop.start();
  }, 30_000);

  afterAll(async () => {
    await loop?.stop();
    await bus?.close();
    await nats?.stop();
  });

  it('binds again when its consumer vanished from the server', async () => {
    await publish(1);
    await waitFor('m1', 10_000, () => seen.includes('m1'));
    await bus.deleteConsumer(STREAMS.events, DURABLE);
    await waitFor('the loop to notice and bind again', 30_000, async () => {
      await publish(3);
      return seen.includes('m3');
    }, { detail: () => logs.text() });
  }, 60_000);
});
