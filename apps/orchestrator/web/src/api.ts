// Every call the console makes carries the operator's token in the Authorization header. The token
// lives in sessionStorage (gone with the tab), never in a URL.
const KEY = 'livemesh.token';

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

let unauthorised: () => void = () => {};
/** Called when the API answers 401 (the token was revoked or expired): the console signs out. */
export function onUnauthorised(cb: () => void): void {
  unauthorised = cb;
}

/** A JSON call to the orchestrator with the token; an answer of 400 or more throws ApiError with the API's message. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (res.status === 401 && token) unauthorised();
  if (!res.ok) {
    const b = parsed as { message?: string | string[]; problems?: string[] } | undefined;
    const msg = b?.problems?.length ? b.problems.join('; ') : Array.isArray(b?.message) ? b.message.join('; ') : (b?.message ?? `HTTP ${res.status}`);
    throw new ApiError(res.status, String(msg), parsed);
  }
  return parsed as T;
}

/** A blob (the thumbnail) with the token: an <img src> could not send it. */
export async function apiBlob(path: string): Promise<Blob | undefined> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${getToken() ?? ''}` } });
  return res.ok ? res.blob() : undefined;
}

export interface LiveEvent {
  type: 'stream' | 'service';
  id?: string;
  body: { streamId?: string; service?: string; kind: string; at: string; message?: string; hop?: number; seq?: number; data?: Record<string, unknown> };
}

/**
 * GET /api/events read with fetch() so the Authorization header goes with it (an EventSource
 * cannot send one). Reconnects after a second when the stream ends; `onState` says whether it is
 * connected. Returns a function that stops it.
 */
export function followEvents(query: string, onEvent: (e: LiveEvent) => void, onState: (connected: boolean) => void = () => {}): () => void {
  let stopped = false;
  let abort = new AbortController();
  const run = async (): Promise<void> => {
    while (!stopped) {
      abort = new AbortController();
      try {
        const res = await fetch(`/api/events${query}`, { headers: { authorization: `Bearer ${getToken() ?? ''}`, accept: 'text/event-stream' }, signal: abort.signal });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const e = parseBlock(block);
            if (e) onEvent(e);
          }
        }
      } catch {
        /* reconnect below */
      }
      if (stopped) return;
      onState(false);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void run();
  return () => {
    stopped = true;
    abort.abort();
  };
}

function parseBlock(block: string): LiveEvent | undefined {
  let type = '';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  if ((type !== 'stream' && type !== 'service') || data.length === 0) return undefined;
  try {
    return { type, id, body: JSON.parse(data.join('\n')) as LiveEvent['body'] };
  } catch {
    return undefined;
  }
}

// --- what the API answers (the parts the console reads) -------------------------------------
// The console's own routes answer the shapes in @livemesh/contracts (types only: nothing of it is bundled).
export type { BusView, ServiceStatus, StreamSummary } from '@livemesh/contracts';
import type { StreamSummary } from '@livemesh/contracts';


export interface HopView {
  service: string;
  params: Record<string, unknown>;
  subject: string;
  fusedThrough?: number;
  fusedInto?: number;
  counters?: { processed: number; pending: number; failed: number };
}

export interface StreamDetail {
  id: string;
  state: string;
  chain: { version: number; hops: HopView[] };
  publish: { rtmp: string; srt?: string; key?: string };
  playback: { hls: string; signed?: boolean };
  errors: { at: string; message: string; service?: string }[];
  latency?: StreamSummary['latency'];
  output?: { segments: Record<string, number> };
}

