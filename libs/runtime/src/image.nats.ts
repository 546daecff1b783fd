import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { RuntimeError } from '@livemesh/contracts';
import type { ProgressSink } from './docker.client.js';
import { ensureBaseImage, locate } from './image.base.js';

const run = promisify(execFile);

/** The NATS image's tag: livemesh/nats:<livemesh version>, so Compose names it as it names the apps. */
export function natsImageTag(version: string, registry?: string): string {
  return `${registry ? `${registry.replace(/\/+$/, '')}/` : ''}livemesh/nats:${version}`;
}

/** `nats-server: v2.9.10` -> `2.9.10`. */
export function parseNatsServerVersion(output: string): string {
  const m = /\bv?(\d+\.\d+\.\d+\S*)/.exec(output);
  if (!m) throw new RuntimeError(`cannot read a version from nats-server --version: ${output.trim().slice(0, 80)}`);
  return m[1]!;
}

export interface NatsImageOptions {
  tag: string;
  /** The nats-server executable to carry; found on PATH (or /usr/sbin, Debian's place) when not given. */
  natsServer?: string;
  onProgress?: ProgressSink;
}

/**
 * Builds the NATS image from this machine's nats-server (Debian's package, as preflight installs
 * it) the way the base image is made: the binary and the libraries `ldd` lists, imported as a root
 * filesystem, no shell and no node. No public registry is needed. The image runs nats-server as
 * its entrypoint; the server's configuration comes from the container's command (`-c <file>`).
 * Rebuilt on every call: the host's nats-server may have been upgraded since.
 */
export async function buildNatsImage(docker: Docker, opts: NatsImageOptions): Promise<{ tag: string; natsVersion: string }> {
  const bin = await locate(opts.natsServer ?? 'nats-server');
  let version: string;
  try {
    const { stdout, stderr } = await run(bin, ['--version']);
    version = parseNatsServerVersion(stdout || stderr);
  } catch (e) {
    throw e instanceof RuntimeError ? e : new RuntimeError(`cannot run ${bin} --version: the NATS image carries this machine's nats-server (Debian: apt-get install -y nats-server): ${(e as Error).message}`, { cause: e });
  }
  await ensureBaseImage(docker, {
    tag: opts.tag,
    rebuild: true,
    media: false,
    node: false,
    extraBinaries: [bin],
    entrypoint: ['/usr/bin/nats-server'],
    labels: { 'livemesh.role': 'nats', 'livemesh.nats-version': version },
    onProgress: opts.onProgress,
  });
  return { tag: opts.tag, natsVersion: version };
}
