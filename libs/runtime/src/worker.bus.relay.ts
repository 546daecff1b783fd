import { resolve } from 'node:path';
import { prepareRelayDir, relayTargets, serveUnixRelay, type Relay, type RelayTarget } from '@livemesh/bus';
import type { RuntimeLogger } from './runtime.types.js';

/**
 * The bus relay of the docker and swarm runtimes (network `none`): a unix socket in the
 * orchestrator that pipes each connection to NATS, under `<LIVEMESH_DATA_DIR>/bus-relay`, started
 * with the first container and closed with the runtime. Workers get its directory mounted
 * read-only and nothing else of the host.
 */
export class WorkerBusRelay {
  private readonly root: string;
  private readonly targets: RelayTarget[];
  private readonly logger: RuntimeLogger;
  private serving?: Promise<{ dir: string; relay: Relay }>;

  constructor(opts: { dataDir: string; natsUrl: string; logger: RuntimeLogger }) {
    this.root = resolve(opts.dataDir, 'bus-relay');
    // Checked now, so a NATS_URL the relay cannot dial fails at start-up, not at the first container.
    this.targets = relayTargets(opts.natsUrl);
    this.logger = opts.logger;
  }

  /** Serves the socket (once) and returns the host directory to mount into workers. */
  async hostDir(): Promise<string> {
    this.serving ??= (async () => {
      const dir = await prepareRelayDir(this.root);
      const relay = await serveUnixRelay(dir, this.targets);
      this.logger.log(`bus relay for worker containers at unix://${relay.address} -> ${this.targets.map((t) => `${t.host}:${t.port}`).join(', ')}`);
      return { dir, relay };
    })();
    try {
      return (await this.serving).dir;
    } catch (e) {
      this.serving = undefined;
      throw e;
    }
  }

  async close(): Promise<void> {
    const serving = this.serving;
    this.serving = undefined;
    await (await serving?.catch(() => undefined))?.relay.close();
  }
}
