import type { ServerResponse } from 'node:http';
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import { quotaAnswer } from '../http/quota-answer.js';
import { StreamQuotas } from './stream.quotas.js';

/**
 * Answers a start that is over a quota before Nest validates it: a flood of starts at the limit
 * then costs the orchestrator about what /health costs, not a full request each, so /health and
 * the admitted starts keep answering. Only a refusal is decided here, from the body's `id` and
 * whether it has a `source`; everything else (validation, the authoritative admission with its
 * reservation) happens in StreamsService as before.
 */
@Injectable()
export class QuotaFastPath implements NestMiddleware {
  constructor(@Inject(StreamQuotas) private readonly quotas: StreamQuotas) {}

  use(req: { body?: unknown }, res: ServerResponse, next: () => void): void {
    const body = req.body as { id?: unknown; source?: unknown } | undefined;
    const refused = body && typeof body.id === 'string' ? this.quotas.refusal(body.id, { source: body.source === undefined ? undefined : { url: '' } }) : undefined;
    if (!refused) return next();
    const json = JSON.stringify(quotaAnswer(refused));
    res.writeHead(429, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  }
}
