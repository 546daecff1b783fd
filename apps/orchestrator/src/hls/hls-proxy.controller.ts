import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Controller, Get, Inject, Logger, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { PlaybackSignatureError, ENV, type OrchestratorSettings } from '@livemesh/contracts';
import { Public } from '../auth/auth.decorators.js';
import { PlaybackSigner, playbackPolicy } from '../streams/playback.signer.js';
import { StreamTable } from '../streams/stream.table.js';

/** Headers that describe one hop's connection, not the content (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);
const SAFE_PATH = /^\/hls\/[A-Za-z0-9_-]{1,64}(\/[A-Za-z0-9_.-]{1,128})*$/;
/** /hls/<id>/t/<token>/<rest>: a signed playback path (docs/security.md, "Signed playback"). */
const TOKEN_PATH = /^\/hls\/([A-Za-z0-9_-]{1,64})\/t\/([^/]*)(\/.*)$/;

/**
 * Viewers only ever talk to the orchestrator's port: /hls/* is streamed through to delivery's
 * origin as it comes (status, headers and body), so playlists and segments are never buffered here.
 */
@ApiExcludeController()
@Public()
@Controller('hls')
export class HlsProxyController {
  private readonly logger = new Logger(HlsProxyController.name);
  private readonly upstream: URL;

  constructor(
    @Inject(ENV) env: OrchestratorSettings,
    @Inject(StreamTable) private readonly table: StreamTable,
    @Inject(PlaybackSigner) private readonly signer: PlaybackSigner,
  ) {
    this.upstream = new URL(env.DELIVERY_URL);
  }

  /**
   * The path to ask delivery for, or the reason a signed stream's request is refused. A signed
   * stream needs `/hls/<id>/t/<exp>.<sig>/...` with a valid, unexpired token, which is then taken
   * out; a public stream is served on the plain path, and a token path to it is taken out unchecked.
   */
  private async authorise(pathname: string): Promise<{ path: string } | PlaybackSignatureError> {
    const m = TOKEN_PATH.exec(pathname);
    const id = m ? m[1]! : pathname.split('/')[2]!;
    const path = m ? `/hls/${id}${m[3]!}` : pathname;
    const record = this.table.get(id)?.value;
    if (!record || !playbackPolicy(record).signed) return { path };
    await this.signer.ready();
    const verdict = this.signer.verify(id, m?.[2]);
    if (verdict.ok) return { path };
    const why = { missing: 'needs a signed playback URL', bad: 'was given a playback token that is not valid for it', expired: 'was given an expired playback token' }[verdict.reason];
    return new PlaybackSignatureError(verdict.reason, `stream "${id}" ${why}: ask the platform for a fresh URL (POST /api/streams/${id}/playback-url)`);
  }

  @Get('*path')
  async proxy(@Req() req: IncomingMessage & { originalUrl?: string }, @Res() res: ServerResponse): Promise<void> {
    const url = new URL(req.originalUrl ?? req.url ?? '/', 'http://proxy.invalid');
    if (!SAFE_PATH.test(url.pathname) || url.pathname.includes('..')) {
      send(res, 400, { statusCode: 400, error: 'Bad Request', message: `not an HLS path: ${url.pathname}` });
      return;
    }
    const allowed = await this.authorise(url.pathname);
    if (allowed instanceof PlaybackSignatureError) {
      send(res, 403, { statusCode: 403, error: 'Forbidden', message: allowed.message, code: allowed.code, reason: allowed.reason });
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ['accept', 'range', 'if-none-match', 'if-modified-since', 'user-agent']) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    const upstreamReq = httpRequest(
      {
        protocol: this.upstream.protocol,
        hostname: this.upstream.hostname,
        port: this.upstream.port,
        method: 'GET',
        path: allowed.path + url.search,
        headers,
        timeout: 10_000,
      },
      (upstreamRes) => {
        for (const [k, v] of Object.entries(upstreamRes.headers)) {
          if (v !== undefined && !HOP_BY_HOP.has(k)) res.setHeader(k, v);
        }
        res.statusCode = upstreamRes.statusCode ?? 502;
        upstreamRes.pipe(res);
        upstreamRes.once('error', () => res.destroy());
      },
    );
    upstreamReq.once('timeout', () => upstreamReq.destroy(new Error('delivery did not answer within 10 s')));
    upstreamReq.once('error', (e) => {
      this.logger.warn(`HLS proxy to ${this.upstream.origin}${url.pathname} failed: ${e.message}`);
      if (res.headersSent) res.destroy();
      else send(res, 502, { statusCode: 502, error: 'Bad Gateway', message: `delivery (${this.upstream.origin}) is not reachable: ${e.message}` });
    });
    // A viewer that goes away should not keep the upstream request open.
    res.once('close', () => upstreamReq.destroy());
    upstreamReq.end();
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}
