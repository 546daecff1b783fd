import { hashStreamKey, keyLabel } from '@livemesh/contracts';

/**
 * A publish key is a password: logs show none of it, only `#` and the first 8 hex digits of its
 * SHA-256, enough to tell keys apart and to find the key's `lm_keys` entry (named by the hash).
 */
export function redactKey(key: string): string {
  return keyLabel(hashStreamKey(key));
}

/**
 * node-media-server writes stream paths (`/live/<key>`) and `name=<key>` into its log lines;
 * this rewrites every such key before the line reaches our logger.
 */
export function redactNmsMessage(message: string): string {
  return message
    .replace(/(^|[\s=])(\/[A-Za-z0-9_-]+\/)([A-Za-z0-9_-]+)(?=$|[\s,;:])/g, (_m, pre: string, app: string, name: string) => `${pre}${app}${redactKey(name)}`)
    .replace(/\bname=([^\s,]+)/g, (_m, name: string) => `name=${redactKey(name)}`);
}

/** A pulled source URL as logs may show it: no user info, no query (both can hold tokens). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return `${url.slice(0, 8)}…`;
  }
}

/**
 * Hides the URL's secrets (user info, query: what redactUrl hides) in ffmpeg's output, whether it
 * names the URL as given or pinned to an address.
 */
export function redactPinned(text: string, url: string): string {
  let out = text.replaceAll(url, redactUrl(url));
  const userinfo = /^[a-z]+:\/\/([^/?#@]*)@/.exec(url)?.[1];
  if (userinfo) out = out.replaceAll(`${userinfo}@`, '');
  const query = /\?[^#]*/.exec(url)?.[0];
  if (query && query.length > 1) out = out.replaceAll(query, '?…');
  return out;
}
