import { loadEnv } from '@livemesh/contracts';
import { OrchestratorModule } from '../orchestrator.module.js';
import { routeTable } from './route-table.js';

/** Routes anyone may call without a token, and why (docs/security.md, "API tokens and scopes"). */
const PUBLIC_ROUTES = new Set([
  'GET /health', // liveness and readiness probes
  'GET /health/live',
  'GET /health/ready',
  'GET /hls/*path', // playback: viewers have no token
  'GET /', // the console's page and bundle: no data in them; every call they make carries the operator's token
  'GET /console/*path',
]);

describe('every HTTP route of the orchestrator declares who may call it', () => {
  const routes = routeTable(OrchestratorModule.forRoot(loadEnv({})));

  it('finds the routes of every controller', () => {
    // A walk that found nothing would pass every check below.
    const controllers = new Set(routes.map((r) => r.controller));
    for (const c of ['StreamsController', 'ThumbnailController', 'ServicesController', 'PipelinesController', 'TokensController', 'MetricsController', 'HealthController', 'HlsProxyController']) {
      expect(controllers).toContain(c);
    }
    expect(routes.length).toBeGreaterThanOrEqual(25);
  });

  it('has scopes or is public on every route, and only the listed routes are public', () => {
    const undeclared = routes.filter((r) => r.access === undefined || (Array.isArray(r.access) && r.access.length === 0));
    expect(undeclared.map((r) => `${r.method} ${r.path} (${r.controller}.${r.handler})`)).toEqual([]);
    const pub = routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.path}`);
    expect(new Set(pub)).toEqual(PUBLIC_ROUTES);
  });

  it('gives the catalogue, pipelines, scaling, runtime and tokens to admin, stream changes to platform, reads to read', () => {
    const byRoute = new Map(routes.map((r) => [`${r.method} ${r.path}`, r.access]));
    for (const r of routes) {
      if (/^\/api\/(services|pipelines|tokens)/.test(r.path)) expect([`${r.method} ${r.path}`, r.access]).toEqual([`${r.method} ${r.path}`, ['admin']]);
    }
    expect(byRoute.get('POST /api/streams')).toEqual(['platform']);
    expect(byRoute.get('DELETE /api/streams/:id')).toEqual(['platform']);
    expect(byRoute.get('PATCH /api/streams/:id/chain')).toEqual(['platform']);
    expect(byRoute.get('GET /api/streams')).toEqual(['read']);
    expect(byRoute.get('GET /api/streams/:id')).toEqual(['read']);
    expect(byRoute.get('GET /metrics')).toEqual(['read']);
    expect(byRoute.get('GET /api/events')).toEqual(['read']);
    expect(byRoute.get('GET /api/bus')).toEqual(['read']);
    expect(byRoute.get('GET /api/console/streams')).toEqual(['read']);
    expect(byRoute.get('GET /api/console/health')).toEqual(['read']);
    expect(byRoute.get('GET /api/console/services')).toEqual(['admin']);
  });
});
