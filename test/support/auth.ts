// The API token tests send. Every orchestrator a test starts (in-process, spawned, or under
// `livemesh up` through meshEnv) takes TEST_ADMIN_TOKEN as its bootstrap admin token, so a test
// calls the API with `authFetch` (or the harness's `api`) the way an operator's tools would.
import { generateApiToken } from '@livemesh/contracts';

/** A fresh admin token for this test process (never written anywhere). */
export const TEST_ADMIN_TOKEN = generateApiToken('testadmin').token;

/** Environment that makes an orchestrator take TEST_ADMIN_TOKEN as its bootstrap admin token. */
export const ADMIN_TOKEN_ENV = { LIVEMESH_ADMIN_TOKEN: TEST_ADMIN_TOKEN } as const;

/** `init.headers` plus `Authorization: Bearer <token>`. */
export function withToken(init: RequestInit = {}, token: string = TEST_ADMIN_TOKEN): RequestInit {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return { ...init, headers };
}

/** fetch with the admin token (or `token`). */
export function authFetch(url: string | URL, init: RequestInit = {}, token: string = TEST_ADMIN_TOKEN): Promise<Response> {
  return fetch(url, withToken(init, token));
}
