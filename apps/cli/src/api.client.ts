/** A thin client of the orchestrator's HTTP API that turns error bodies into readable messages. */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (cause) {
      throw new Error(`cannot reach the orchestrator at ${this.baseUrl} (is \`npm start\` running?)`, { cause });
    }
    const text = await res.text();
    const parsed = text ? safeJson(text) : undefined;
    if (!res.ok) {
      const b = (parsed ?? {}) as { message?: string | string[]; problems?: string[] };
      const problems = b.problems ?? (Array.isArray(b.message) ? b.message : []);
      const head = typeof b.message === 'string' ? b.message : `${method} ${path} failed`;
      throw new Error(`${res.status}: ${head}${problems.length ? '\n  - ' + problems.join('\n  - ') : ''}`);
    }
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
