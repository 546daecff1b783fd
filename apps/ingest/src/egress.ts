import { Inject, Injectable, Logger } from '@nestjs/common';
import { ENV, type IngestSettings } from '@livemesh/contracts';
import { EgressProxy, parseAddressRanges } from '@livemesh/media';

/**
 * Ingest's egress proxy (libs/media EgressProxy): every http(s) request a pull's ffmpeg makes,
 * redirects and playlist entries included, goes through it and is held to the outbound address
 * rule. One per ingest process, on 127.0.0.1, started before any pull and stopped after the last.
 */
@Injectable()
export class IngestEgress {
  private readonly logger = new Logger('Egress');
  private readonly proxy: EgressProxy;

  constructor(@Inject(ENV) env: IngestSettings) {
    this.proxy = new EgressProxy({
      allow: parseAddressRanges(env.LIVEMESH_ALLOW_PRIVATE_SOURCES),
      log: (level, line) => (level === 'warn' ? this.logger.warn(line) : this.logger.debug(line)),
    });
  }

  async start(): Promise<void> {
    this.logger.log(`egress proxy for pulled sources on ${await this.proxy.start()}`);
  }

  /** `-http_proxy` for ffmpeg. */
  get url(): string {
    return this.proxy.url;
  }

  stop(): Promise<void> {
    return this.proxy.stop();
  }
}
