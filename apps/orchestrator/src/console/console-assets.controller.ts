import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators.js';

/** Where `npm run build` (vite) writes the console: apps/orchestrator/dist/web, from src/console or dist/console alike. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/**
 * Scripts from this origin only (no inline script, no eval); the preview's media comes through
 * blob: URLs (hls.js feeds Media Source Extensions) and hls.js may run a blob: worker; style
 * attributes are allowed (the views set a few inline); no framing, no form posts elsewhere.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  type: string;
  body: Buffer;
}

interface RawResponse {
  status(code: number): RawResponse;
  set(headers: Record<string, string>): RawResponse;
  send(body: Buffer | string): unknown;
}

/** Every file of the built console by its URL path (`/console/assets/x.js`): nothing outside it can be asked for. */
export function loadConsoleAssets(dir: string = CONSOLE_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const file = join(d, name);
      if (statSync(file).isDirectory()) walk(file);
      else assets.set(`/console/${relative(dir, file).split(sep).join('/')}`, { type: TYPES[extname(name)] ?? 'application/octet-stream', body: readFileSync(file) });
    }
  };
  walk(dir);
  return assets;
}

/**
 * The operator's console: a static page at `/` and its bundle under `/console/`. Public, like a
 * sign-in page: it holds no data. Every call it makes to the API carries the token the operator
 * signs in with (docs/console.md).
 */
@ApiExcludeController()
@Public()
@Controller()
export class ConsoleAssetsController {
  private assets: Map<string, Asset> | undefined;

  @Get()
  index(@Res() res: RawResponse): void {
    this.send(res, '/console/index.html');
  }

  @Get('console/*path')
  asset(@Param('path') path: string | string[], @Res() res: RawResponse): void {
    this.send(res, `/console/${Array.isArray(path) ? path.join('/') : path}`);
  }

  private send(res: RawResponse, path: string): void {
    this.assets ??= loadConsoleAssets();
    const asset = this.assets.get(path);
    if (!asset) {
      const built = this.assets.size > 0;
      res.status(404).set({ 'content-type': 'text/plain; charset=utf-8' }).send(built ? `no such console file: ${path}` : 'the console is not built: run npm run build');
      return;
    }
    // The bundle's file names carry a content hash (vite); the page itself must be fetched afresh.
    const html = path.endsWith('.html');
    const cache = html ? 'no-cache' : 'public, max-age=31536000, immutable';
    res
      .status(200)
      .set({
        'content-type': asset.type,
        'cache-control': cache,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        // The page holds the operator's token: only its own bundle runs, and it talks to this origin only.
        ...(html ? { 'content-security-policy': CONSOLE_CSP } : {}),
      })
      .send(asset.body);
  }
}
