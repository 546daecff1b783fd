import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { Bus, JsonStore } from '@livemesh/bus';
import { BUCKETS, executingHops, type ChainSpec, type StreamRecord } from '@livemesh/contracts';
import type { ContainerRuntime } from '@livemesh/runtime';
import { CatalogueService } from '../catalogue/catalogue.service.js';
import { CONTAINER_RUNTIME } from '../runtime/runtime.tokens.js';
import { StreamsService } from './streams.service.js';

/**
 * Brings the runtime back in line with the buckets when the orchestrator starts. The KV state
 * survives a restart but the runtime's workers may not (the process runtime's workers are its
 * children and stop with it), so every live stream's services get their start instruction again;
 * segments queued in JetStream meanwhile are then processed in order. Replica counts an operator
 * set are restored, and a stop interrupted by the restart is finished.
 */
@Injectable()
export class StreamsReconciler implements OnApplicationBootstrap {
  private readonly logger = new Logger(StreamsReconciler.name);
  private readonly records: JsonStore<StreamRecord>;
  private readonly chains: JsonStore<ChainSpec>;

  constructor(
    @Inject(Bus) bus: Bus,
    @Inject(CatalogueService) private readonly catalogue: CatalogueService,
    @Inject(CONTAINER_RUNTIME) private readonly runtime: ContainerRuntime,
    @Inject(StreamsService) private readonly streams: StreamsService,
  ) {
    this.records = bus.store(BUCKETS.streams);
    this.chains = bus.store(BUCKETS.chains);
  }

  async onApplicationBootstrap(): Promise<void> {
    // Before anything reads a record: no plaintext key is left in the buckets, and the ingest
    // secret exists before ingest needs it for an SRT listener.
    await this.streams.prepareIngestSecret().catch((e: Error) => this.logger.error(`ingest secret: ${e.message}; SRT listeners of published streams stay off`));
    await this.streams.migrateKeys().catch((e: Error) => this.logger.error(`migrating plaintext stream keys failed: ${e.message}`, e.stack));
    // Boot must not fail on one bad record: the API is how an operator would fix it.
    await this.reconcile().catch((e: Error) => this.logger.error(`reconcile at boot failed: ${e.message}`, e.stack));
  }

  /** Re-ensures the services of every live stream and resumes interrupted stops; returns the ids of the live streams. */
  async reconcile(): Promise<string[]> {
    const records = await this.records.list();
    const live = records.filter((r) => r.value.state === 'live').map((r) => r.key);
    const services = new Map<string, string[]>();
    for (const id of live) {
      const chain = (await this.chains.get(id))?.value;
      if (!chain) {
        this.logger.warn(`streamId=${id} is live but has no chain spec; nothing to re-ensure`);
        continue;
      }
      // A hop inside a fused group runs on its head's workers and got no start instruction at
      // start either: ensuring it here would add a worker the stream never had before the restart.
      for (const hop of executingHops(chain)) services.set(hop.service, [...(services.get(hop.service) ?? []), id]);
    }
    for (const [name, ids] of services) {
      try {
        const spec = await this.catalogue.getService(name);
        const { instance, reused } = await this.runtime.ensure({ service: spec, startParams: spec.startParams ?? {} });
        this.logger.log(`service=${name} containerId=${instance.id} ${reused ? 'reused' : 'started'} for live stream(s) ${ids.join(', ')}`);
      } catch (e) {
        this.logger.error(`service=${name} cannot be re-ensured for stream(s) ${ids.join(', ')}: ${(e as Error).message}`);
      }
    }
    // Replica counts an operator set, which the process runtime lost with its workers (Docker and
    // Swarm kept theirs; asking again changes nothing there).
    for (const scale of await this.catalogue.listScales()) {
      try {
        const spec = await this.catalogue.getService(scale.service);
        const instances = await this.runtime.scale(spec, scale.replicas);
        this.logger.log(`service=${scale.service} replicas=${instances.length} restored (scaled by an operator at ${scale.updatedAt})`);
      } catch (e) {
        this.logger.error(`service=${scale.service} replica count ${scale.replicas} cannot be restored: ${(e as Error).message}`);
      }
    }
    for (const r of records.filter((e) => e.value.state === 'stopping')) {
      this.logger.log(`streamId=${r.key} was stopping when the orchestrator went down; finishing the stop`);
      void this.streams.stop(r.key).catch((e: Error) => this.logger.error(`streamId=${r.key} resumed stop failed: ${e.message}`));
    }
    if (live.length) this.logger.log(`reconciled ${live.length} live stream(s) over ${services.size} service(s)`);
    return live;
  }
}
