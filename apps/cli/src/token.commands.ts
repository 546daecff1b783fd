import { InvalidArgumentError, type Command } from 'commander';
import { API_SCOPES, type ApiScope, type ApiTokenView, type CliSettings } from '@livemesh/contracts';
import { apiClient } from './api.client.js';

/** A repeatable --scope. */
function collectScope(value: string, previous: ApiScope[] = []): ApiScope[] {
  if (!(API_SCOPES as readonly string[]).includes(value)) throw new InvalidArgumentError(`a scope is one of ${API_SCOPES.join(', ')}, got "${value}"`);
  return [...previous, value as ApiScope];
}

/** --expires: a duration from now (`30d`, `12h`, `90m`) or an ISO 8601 date-time. */
export function parseExpiry(value: string, now = Date.now()): string {
  const m = /^(\d{1,6})([mhd])$/.exec(value);
  if (m) return new Date(now + Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd']).toISOString();
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  throw new InvalidArgumentError(`expected a duration (30d, 12h, 90m) or an ISO date-time, got "${value}"`);
}

export function registerTokenCommands(program: Command, env: CliSettings): void {
  const api = () => apiClient(program, env);
  const token = program.command('token').description('create, list and revoke API tokens (admin)');
  token
    .command('create')
    .description('create an API token; prints it once (store it: only its hash is kept)')
    .requiredOption('--name <name>', 'what the token is for, e.g. the platform that uses it')
    .requiredOption('--scope <scope>', `a scope (${API_SCOPES.join(', ')}), repeatable`, collectScope)
    .option('--expires <when>', 'expiry: a duration (30d, 12h, 90m) or an ISO date-time; default: until revoked', (v) => parseExpiry(v))
    .action(async (o: { name: string; scope: ApiScope[]; expires?: string }) => {
      const t = await api().request<ApiTokenView & { token: string }>('POST', '/api/tokens', { name: o.name, scopes: o.scope, ...(o.expires ? { expiresAt: o.expires } : {}) });
      process.stdout.write(`${t.token}\n`);
      process.stderr.write(`token ${t.id} ("${t.name}", ${t.scopes.join(', ')}${t.expiresAt ? `, expires ${t.expiresAt}` : ''}): shown this once; give it as LIVEMESH_TOKEN or "Authorization: Bearer <token>"\n`);
    });
  token
    .command('list')
    .alias('ls')
    .description('list tokens: id, name, scopes, created, expiry, revoked (never a secret)')
    .action(async () => {
      for (const t of await api().get<ApiTokenView[]>('/api/tokens')) {
        const state = t.revokedAt ? `revoked ${t.revokedAt}` : t.expiresAt ? `expires ${t.expiresAt}` : t.bootstrap ? 'bootstrap' : 'active';
        process.stdout.write(`${t.id}\t${t.name}\t${t.scopes.join(',')}\tcreated ${t.createdAt}\t${state}\n`);
      }
    });
  token
    .command('revoke <id>')
    .description('revoke a token: refused from its next request on')
    .action(async (id: string) => {
      const t = await api().request<ApiTokenView>('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
      process.stdout.write(`revoked ${t.id} ("${t.name}") at ${t.revokedAt}\n`);
    });
}
