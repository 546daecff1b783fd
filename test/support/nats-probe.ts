// A raw NATS client for the negative permission matrix (test/e2e/nats-credentials.e2e-spec.ts):
// it tries what a stolen credential would try (create a stream, write a bucket, pull someone
// else's consumer, listen on someone else's inbox), which the Bus deliberately does not offer,
// so it may use the raw client (the eslint exemption names this file).
import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';

export interface Probe {
  nc: NatsConnection;
  /** Permission violations the server reported on this connection (async errors). */
  violations: string[];
  close(): Promise<void>;
}

/** Connects with a credentials file (or none), with the inbox prefix livemesh gives that credential. */
export async function probeConnect(url: string, credsFile?: string, inboxPrefix?: string): Promise<Probe> {
  const nc = await connect({
    servers: url,
    timeout: 5_000,
    ...(credsFile ? { authenticator: credsAuthenticator(await readFile(credsFile)) } : {}),
    ...(inboxPrefix ? { inboxPrefix } : {}),
  });
  const violations: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') violations.push(String((s as { error?: Error }).error?.message ?? s.type));
  })();
  return { nc, violations, close: () => nc.close() };
}

async function jsm(p: Probe): Promise<JetStreamManager> {
  return jetstreamManager(p.nc, { timeout: 3_000 });
}

/** What each attempt may be: a name and a function that resolves when the server let it through. */
export type Attempt = () => Promise<unknown>;

/** Runs `attempt`; true when it went through (the server did what was asked), false when refused. */
export async function succeeds(attempt: Attempt): Promise<boolean> {
  try {
    await attempt();
    return true;
  } catch {
    return false;
  }
}

export const attempts = {
  kvPut: (p: Probe, bucket: string, key: string, value = '{}'): Attempt => async () => {
    const kv = await new Kvm(jetstream(p.nc, { timeout: 3_000 })).open(bucket);
    await kv.put(key, value);
  },
  kvGet: (p: Probe, bucket: string, key: string): Attempt => async () => {
    const kv = await new Kvm(jetstream(p.nc, { timeout: 3_000 })).open(bucket);
    const e = await kv.get(key);
    if (!e) throw new Error(`no value at ${key}`);
    return e.string();
  },
  createStream: (p: Probe, name: string, subject: string): Attempt => async () => (await jsm(p)).streams.add({ name, subjects: [subject] }),
  deleteStream: (p: Probe, name: string): Attempt => async () => (await jsm(p)).streams.delete(name),
  purgeStream: (p: Probe, name: string): Attempt => async () => (await jsm(p)).streams.purge(name),
  createConsumer: (p: Probe, stream: string, durable: string, filter: string): Attempt => async () =>
    (await jsm(p)).consumers.add(stream, { durable_name: durable, filter_subject: filter, ack_policy: AckPolicy.Explicit }),
  deleteConsumer: (p: Probe, stream: string, durable: string): Attempt => async () => (await jsm(p)).consumers.delete(stream, durable),
  consumerInfo: (p: Probe, stream: string, durable: string): Attempt => async () => (await jsm(p)).consumers.info(stream, durable),
  /** Pulls one message of an existing durable consumer; succeeds only if a message came. */
  pull: (p: Probe, stream: string, durable: string): Attempt => async () => {
    const c = await jetstream(p.nc, { timeout: 3_000 }).consumers.get(stream, durable);
    const m = await c.next({ expires: 1_500 });
    if (!m) throw new Error('no message');
    m.ack();
    return m.subject;
  },
  /** A JetStream publish: succeeds when the stream stored it. */
  jsPublish: (p: Probe, subject: string, data = '{}'): Attempt => async () => jetstream(p.nc, { timeout: 3_000 }).publish(subject, data),
  /** A core publish: the server drops a forbidden one silently, so `stored` checks what arrived. */
  corePublish: (p: Probe, subject: string, stored: () => Promise<boolean>, data = '{}'): Attempt => async () => {
    p.nc.publish(subject, data);
    await p.nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    if (!(await stored())) throw new Error('not stored');
  },
  /** Subscribes, lets `send` publish there (from another connection), succeeds if anything arrived. */
  listen: (p: Probe, subject: string, send: () => Promise<void>): Attempt => async () => {
    let got = 0;
    const sub = p.nc.subscribe(subject, { callback: (err) => { if (!err) got++; } });
    await p.nc.flush().catch(() => undefined);
    await send();
    await new Promise((r) => setTimeout(r, 300));
    sub.unsubscribe();
    if (got === 0) throw new Error('nothing arrived');
  },
};

/** An admin's view, to see whether an attempt left a side effect. */
export const facts = {
  streamExists: async (p: Probe, name: string): Promise<boolean> => {
    try {
      await (await jsm(p)).streams.info(name);
      return true;
    } catch {
      return false;
    }
  },
  consumerExists: async (p: Probe, stream: string, name: string): Promise<boolean> => {
    try {
      await (await jsm(p)).consumers.info(stream, name);
      return true;
    } catch {
      return false;
    }
  },
  messages: async (p: Probe, stream: string, filter: string): Promise<number> => {
    const info = await (await jsm(p)).streams.info(stream, { subjects_filter: filter });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  },
};
