import type { Command } from 'commander';
import type { CliSettings } from '@livemesh/contracts';
import { adminTokenPath, readAdminTokenFile } from '@livemesh/runtime';

/** The token the CLI sends and where it came from (named in 401/403 messages). */
export interface Credential {
  token: string;
  source: string;
}

/** LIVEMESH_TOKEN, else the admin token `livemesh up` wrote to `<LIVEMESH_DATA_DIR>/admin.token`, else none. */
export async function cliCredential(env: CliSettings): Promise<Credential | undefined> {
  if (env.LIVEMESH_TOKEN) return { token: env.LIVEMESH_TOKEN, source: 'LIVEMESH_TOKEN' };
  const token = await readAdminTokenFile(env.LIVEMESH_DATA_DIR);
  return token ? { token, source: adminTokenPath(env.LIVEMESH_DATA_DIR) } : undefined;
}

/** The API client of a command: --api's URL and the CLI's credential. */
export function apiClient(program: Command, env: CliSettings): ApiClient {
  return new ApiClient(program.opts<{ api: string }>().api, () => cliCredential(env), adminTokenPath(env.LIVEMESH_DATA_DIR));
}

/** A thin client of the orchestrator's HTTP API that turns error bodies into readable messages. */
export class ApiClient {
  private credential?: Promise<Credential | undefined>;

  constructor(
    readonly baseUrl: string,
    private readonly findCredential: () => Promise<Credential | undefined> = async () => undefined,
    /** Where the admin token would be, for the message when there is none. */
    private readonly tokenFile = '.livemesh/admin.token',
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    this.credential ??= this.findCredential();
    const credential = await this.credential;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (credential) headers.authorization = `Bearer ${credential.token}`;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (cause) {
      throw new Error(`cannot reach the orchestrator at ${this.baseUrl} (is \`npm start\` running?)`, { cause });
    }
    const text = await res.text();
    const parsed = text ? safeJson(text) : undefined;
    if (!res.ok) {
      const b = (parsed ?? {}) as { message?: string | string[]; problems?: string[] };
      const problems = b.problems ?? (Array.isArray(b.message) ? b.message : []);
      const head = typeof b.message === 'string' ? b.message : `${method} ${path} failed`;
      throw new Error(`${res.status}: ${head}${problems.length ? '\n  - ' + problems.join('\n  - ') : ''}${this.hint(res.status, credential)}`);
    }
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** What to do about a 401 or 403, naming the token the CLI sent. */
  private hint(status: number, credential: Credential | undefined): string {
    if (status === 401) {
      return credential
        ? `\n  the token from ${credential.source} was refused; set LIVEMESH_TOKEN to a valid one (livemesh token create)`
        : `\n  no token: set LIVEMESH_TOKEN, or run where \`livemesh up\` wrote ${this.tokenFile} (LIVEMESH_DATA_DIR)`;
    }
    if (status === 403) return `\n  the token from ${credential?.source ?? 'nowhere'} lacks that scope; use a token that has it (LIVEMESH_TOKEN)`;
    return '';
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
