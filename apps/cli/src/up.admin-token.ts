import type { CliSettings } from '@livemesh/contracts';
import { ensureAdminTokenFile } from '@livemesh/runtime';

/**
 * The admin API token of `livemesh up`: LIVEMESH_ADMIN_TOKEN when set (the orchestrator checks
 * its strength), else `<data dir>/admin.token`, written (0600, directory 0700) on the first run
 * and reused after. The orchestrator child reads the same file or variable: the token is never in
 * an argv. `where` says where it is, for the start-up message.
 */
export async function upAdminToken(env: CliSettings, dataDir: string): Promise<{ token: string; where: string }> {
  if (env.LIVEMESH_ADMIN_TOKEN) return { token: env.LIVEMESH_ADMIN_TOKEN, where: 'LIVEMESH_ADMIN_TOKEN' };
  const file = await ensureAdminTokenFile(dataDir);
  return { token: file.token, where: `${file.path}${file.created ? ' (new)' : ''}` };
}
