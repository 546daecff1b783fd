import Docker from 'dockerode';
import { ConfigError, RuntimeError } from '@livemesh/contracts';

/** Receives one human-readable line per build, push or pull step. */
export type ProgressSink = (line: string) => void;

/**
 * A Docker client for DOCKER_HOST, the variable the docker CLI reads: `unix:///path` or
 * `tcp://host:port` (plain HTTP; a TLS engine is reached through an ssh tunnel or a socket proxy).
 */
export function createDockerClient(dockerHost: string): Docker {
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  if (/^(tcp|http):\/\//.test(dockerHost)) {
    const u = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return new Docker({ host: u.hostname, port: Number(u.port || 2375), protocol: 'http' });
  }
  throw new ConfigError('environment is invalid', [`DOCKER_HOST: "${dockerHost}" is not a unix:// or tcp:// address`]);
}

/** One JSON object of the engine's progress stream (build, push, pull, import). */
export interface ProgressEvent {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Tag?: string; Digest?: string; Size?: number };
}

/**
 * Follows a progress stream to its end, relaying each line. Rejects on the first `error` event:
 * the engine answers 200 and reports a failed step inside the stream, so the HTTP status alone
 * says nothing. Build failures name the step (`Step 3/7 : COPY ...`) that was running.
 */
export function followProgress(docker: Docker, stream: NodeJS.ReadableStream, onProgress?: ProgressSink): Promise<ProgressEvent[]> {
  let step: string | undefined;
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: ProgressEvent[]) => {
        if (err) return reject(new RuntimeError(`${step ? `${step} failed: ` : ''}${err.message}`, { cause: err }));
        const failed = events.find((e) => e.error);
        if (failed) return reject(new RuntimeError(`${step ? `${step} failed: ` : ''}${failed.errorDetail?.message ?? failed.error}`));
        resolve(events);
      },
      (e: ProgressEvent) => {
        if (e.stream) {
          for (const line of e.stream.split('\n').map((l) => l.trimEnd()).filter(Boolean)) {
            if (/^Step \d+\/\d+ :/.test(line)) step = line.replace(/^Step (\d+\/\d+) :\s*/, 'step $1 (') + ')';
            onProgress?.(line);
          }
        } else if (e.status && !e.progress) {
          onProgress?.(e.id ? `${e.id}: ${e.status}` : e.status);
        } else if (e.aux?.Digest) {
          onProgress?.(`pushed ${e.aux.Tag ?? ''} digest ${e.aux.Digest}`);
        }
      },
    );
  });
}
