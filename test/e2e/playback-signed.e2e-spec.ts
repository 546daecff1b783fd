// Signed playback (docs/security.md, "Signed playback"): an in-process orchestrator on a real
// nats-server proxies /hls to a real delivery app. A signed stream's plain path and an expired or
// foreign token are refused with 403 LM_PLAYBACK_SIGNATURE; the URL in its view and one from
// POST /api/streams/:id/playback-url reach delivery; a public stream plays as before.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { loadEnv, playbackSecretPath, signPlaybackToken, type StreamView } from '@livemesh/contracts';
import { createDeliveryApp } from '../../apps/delivery/src/delivery.app.js';
import { freePort } from '../support/free-port.js';
import { startInProcessOrchestrator, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';

describe('signed playback through the orchestrator /hls proxy', () => {
  let o: InProcessOrchestrator;
  let delivery: INestApplication;
  let dataDir: string;
  let deliveryBase: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lm-playback-e2e-'));
    const deliveryPort = await freePort();
    deliveryBase = `http://127.0.0.1:${deliveryPort}`;
    o = await startInProcessOrchestrator('playback-signed-e2e', { DELIVERY_URL: deliveryBase, LIVEMESH_DATA_DIR: dataDir, LIVEMESH_PUBLIC_HOST: '127.0.0.1' });
    delivery = await createDeliveryApp(loadEnv({ NATS_URL: o.nats.url, DELIVERY_PORT: String(deliveryPort), LOG_LEVEL: 'warn' }), { logger: ['error'] });
    await delivery.listen(deliveryPort, '127.0.0.1');
  }, 60_000);

  afterAll(async () => {
    await delivery?.close();
    await o?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  const start = async (body: object): Promise<StreamView> => {
    const res = await o.fetch('/api/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(201);
    return (await res.json()) as StreamView;
  };
  const play = async (url: string): Promise<{ status: number; body: Record<string, unknown> | string }> => {
    const res = await fetch(url);
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
    } catch {
      return { status: res.status, body: text };
    }
  };
  const refused = (reason: string) => ({ status: 403, body: expect.objectContaining({ code: 'LM_PLAYBACK_SIGNATURE', reason }) });

  it('refuses a signed stream without a valid token and passes its signed URLs on to delivery', async () => {
    const before = Math.floor(Date.now() / 1000);
    const view = await start({ id: 'signed-cam', playback: { signed: true, ttlSeconds: 120 } });
    expect(view.playback).toEqual({ hls: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/hls\/signed-cam\/t\/\d+\.[A-Za-z0-9_-]+\/index\.m3u8$/), signed: true, expiresAt: expect.any(String) });
    const exp = Date.parse(view.playback.expiresAt!) / 1000;
    expect(exp).toBeGreaterThanOrEqual(before + 120);
    expect(exp).toBeLessThanOrEqual(before + 125);
    expect((await stat(playbackSecretPath(dataDir))).mode & 0o777).toBe(0o600);

    // Delivery has no segment of it yet: its own answer (not the proxy's 403) proves the request got through.
    const direct = await play(`${deliveryBase}/hls/signed-cam/index.m3u8`);
    expect(direct.status).not.toBe(403);
    expect(await play(view.playback.hls)).toEqual(direct);
    expect(await play(view.playback.hls.replace('index.m3u8', 'seg-1.ts'))).toEqual(await play(`${deliveryBase}/hls/signed-cam/seg-1.ts`));

    const minted = await o.fetch('/api/streams/signed-cam/playback-url', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ttlSeconds: 30 }) });
    expect(minted.status).toBe(200);
    const fresh = (await minted.json()) as StreamView['playback'];
    expect(Date.parse(fresh.expiresAt!) / 1000).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 30);
    expect(await play(fresh.hls)).toEqual(direct);

    const proxy = `${o.base}/hls/signed-cam`;
    expect(await play(`${proxy}/index.m3u8`)).toEqual(refused('missing'));
    expect(await play(`${proxy}/seg-1.ts`)).toEqual(refused('missing'));
    const secret = Buffer.from((await readFile(playbackSecretPath(dataDir), 'utf8')).trim(), 'hex');
    const now = Math.floor(Date.now() / 1000);
    expect(await play(`${proxy}/t/${signPlaybackToken(secret, 'signed-cam', now - 5)}/index.m3u8`)).toEqual(refused('expired'));
    expect(await play(`${proxy}/t/${signPlaybackToken(secret, 'other-cam', now + 60)}/index.m3u8`)).toEqual(refused('bad'));
    expect(await play(`${proxy}/t/${now + 60}.AAAA/index.m3u8`)).toEqual(refused('bad'));
  });

  it('leaves a public stream public, and has no signed URL to mint for it', async () => {
    const view = await start({ id: 'public-cam' });
    expect(view.playback).toEqual({ hls: expect.stringMatching(/\/hls\/public-cam\/index\.m3u8$/) });
    const direct = await play(`${deliveryBase}/hls/public-cam/index.m3u8`);
    expect(direct.status).not.toBe(403);
    expect(await play(view.playback.hls)).toEqual(direct);
    // A token path to a public stream is taken out unchecked.
    expect(await play(`${o.base}/hls/public-cam/t/1.x/index.m3u8`)).toEqual(direct);
    const minted = await o.fetch('/api/streams/public-cam/playback-url', { method: 'POST' });
    expect(minted.status).toBe(400);
  });
});
