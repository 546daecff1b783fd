import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { envWasSet, type StreamView, type CliSettings } from '@livemesh/contracts';
import { ignoreBrokenLogPipes, testSourceArgs } from '@livemesh/media';
import { Supervisor, appEntry, waitForHttp, waitForTcp } from '@livemesh/runtime';

/** Signals this close to the first are the same Ctrl-C delivered twice, not a request to force. */
const SIGNAL_BURST_MS = 1_000;
import { ApiClient } from './api.client.js';
import { upAdminToken } from './up.admin-token.js';
import { prepareNats } from './nats.setup.js';

/**
 * `livemesh up`: the whole mesh on one machine. Starts nats-server (unless NATS_URL names one),
 * the orchestrator (which starts workers through the process runtime), ingest and delivery as
 * supervised child processes; with --demo it starts stream `demo` and publishes a live test
 * picture to it over RTMP, as an encoder would. A child that dies is restarted with back-off, as
 * a process supervisor would (Docker, Swarm and Kubernetes do it with their restart policy).
 * Ctrl-C stops every child, in reverse order; a second Ctrl-C kills them at once.
 */
export function registerUpCommand(program: Command, env: CliSettings): void {
  program
    .command('up')
    .description('run the whole mesh on this machine (nats-server, orchestrator, workers, ingest, delivery)')
    .option('--demo', 'start stream "demo" and publish a live test picture with a tone to it', false)
    .action(async (o: { demo: boolean }) => {
      const dataDir = resolve(env.LIVEMESH_DATA_DIR);
      await mkdir(dataDir, { recursive: true });
      const admin = await upAdminToken(env, dataDir);
      const log = (line: string) => process.stdout.write(`${line}\n`);
      const sup = new Supervisor({ log: (name, line) => log(`[${name}] ${line}`) });

      let stopping = false;
      let firstSignalAt = 0;
      const shutdown = async (signal: string) => {
        if (stopping) {
          // Ctrl-C reaches the whole foreground process group and scripts/start.mjs passes it on
          // too, so one key press can arrive twice within milliseconds: that is not a second one.
          if (Date.now() - firstSignalAt < SIGNAL_BURST_MS) return;
          // A second signal while the children drain: the user does not want to wait.
          log(`livemesh: ${signal} again: killing every process now`);
          await sup.killAll();
          process.exit(130);
        }
        stopping = true;
        firstSignalAt = Date.now();
        log(`livemesh: ${signal}: stopping every process (send it again to kill them at once)`);
        await sup.stopAll();
        log('livemesh: stopped');
        process.exit(0);
      };
      // SIGHUP: the terminal closed. Its children are in process groups of their own and would
      // not hear of it, so they are stopped like on Ctrl-C; log lines with no terminal left are dropped.
      ignoreBrokenLogPipes();
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void shutdown(sig));

      try {
        const childEnv: Record<string, string> = {};
        const appEnv: Record<'orchestrator' | 'delivery' | 'ingest', Record<string, string>> = { orchestrator: childEnv, delivery: childEnv, ingest: childEnv };
        if (!envWasSet('NATS_URL')) {
          const nats = await prepareNats(dataDir, env);
          await sup.start({
            name: 'nats',
            command: 'nats-server',
            args: ['-c', nats.config],
            ready: () => waitForTcp('127.0.0.1', 4222, 15_000),
          });
          childEnv.NATS_URL = 'nats://127.0.0.1:4222';
          for (const app of ['orchestrator', 'delivery', 'ingest'] as const) appEnv[app] = { ...childEnv, NATS_CREDS: nats.creds[app] };
          appEnv.orchestrator.NATS_ACCOUNT_SIGNER = nats.signerFile;
          log(`livemesh: NATS runs with credentials${nats.tls ? ' and TLS' : ''}; a platform publishes stream events with ${nats.platformCreds}`);
        }
        const node = process.execPath;
        const http = (port: number) => `http://127.0.0.1:${port}/health`;
        // Its process runtime gives each worker 15 s to drain; stopping it must not cut that short.
        await sup.start({ name: 'orchestrator', command: node, args: [appEntry('orchestrator')], env: appEnv.orchestrator, ready: () => waitForHttp(http(env.HTTP_PORT), 60_000), stopGraceMs: 20_000 });
        await sup.start({ name: 'delivery', command: node, args: [appEntry('delivery')], env: appEnv.delivery, ready: () => waitForHttp(http(env.DELIVERY_PORT), 60_000) });
        await sup.start({ name: 'ingest', command: node, args: [appEntry('ingest')], env: appEnv.ingest, ready: () => waitForHttp(http(env.INGEST_HTTP_PORT), 60_000) });

        const api = new ApiClient(`http://127.0.0.1:${env.HTTP_PORT}`, async () => ({ token: admin.token, source: admin.where }));
        const base = `http://${env.LIVEMESH_PUBLIC_HOST}:${env.HTTP_PORT}`;
        if (o.demo) {
          let demo = await api.request<StreamView>('POST', '/api/streams', { id: 'demo' });
          // Still live from the last run (its key was shown then, and is stored hashed): a new key.
          if (demo.publish.key === undefined) demo = await api.request<StreamView>('POST', '/api/streams/demo/key', {});
          await sup.start({
            name: 'encoder',
            command: env.FFMPEG_PATH,
            args: testSourceArgs({ width: 1280, height: 720, fps: 30, realtime: true, output: { url: demo.publish.rtmp }, format: 'flv' }),
            quiet: true,
          });
          log('');
          log('livemesh is running.');
          log(`  console ${base}/   (sign in with the admin API token in ${admin.where})`);
          log(`  watch   ${demo.playback.hls}   (hls.js, Safari, VLC, or: ffplay ${demo.playback.hls})`);
          log(`  publish ${demo.publish.rtmp}   (the demo encoder is publishing there now)`);
        } else {
          log('');
          log('livemesh is running. Start a stream with: npx livemesh stream start <id>');
          log(`  console ${base}/   (sign in with the admin API token in ${admin.where})`);
        }
        log(`  API     ${base}/api   docs ${base}/api/docs   health ${base}/health   metrics ${base}/metrics`);
        log(`  token   admin API token in ${admin.where}; the CLI uses it (LIVEMESH_TOKEN overrides)`);
        log('Press Ctrl-C to stop.');
      } catch (e) {
        log(`livemesh: start-up failed: ${(e as Error).message}`);
        await sup.stopAll();
        process.exit(1);
      }
    });
}
