const DEFAULT_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * The first SIGTERM/SIGINT starts a graceful shutdown (Nest's shutdown hooks: drain, flush, close);
 * Nest ignores any signal that comes while that runs, so an operator's second Ctrl-C would wait
 * for the drain. With this, a second signal ends the process at once, by that signal, the way a
 * stage worker already does. When Nest re-raises the first signal after its shutdown, the process
 * ends by it as before.
 */
export function exitOnSecondSignal(signals: readonly NodeJS.Signals[] = DEFAULT_SIGNALS): void {
  let seen = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!seen) {
      seen = true;
      return;
    }
    // No listener left: the re-raised signal takes its default action, ending the process now.
    for (const s of signals) process.removeAllListeners(s);
    process.kill(process.pid, sig);
  };
  for (const s of signals) process.on(s, onSignal);
}

/**
 * Calls `onGone` once when the process that started this one (`parentPid`) has gone. A child
 * whose parent dies is re-parented (to init or a subreaper), so a `ppid` that no longer matches is
 * the sign; it also catches a parent that died before this process looked. Polling needs no pipe
 * or handle from the parent, so it works whoever spawned the child and however its stdio is wired.
 */
export function watchParent(parentPid: number, onGone: (nowPpid: number) => void, intervalMs = 500): () => void {
  const check = (): void => {
    if (process.ppid === parentPid) return;
    clearInterval(timer);
    onGone(process.ppid);
  };
  const timer = setInterval(check, intervalMs);
  // The watch must not keep an otherwise finished process alive.
  timer.unref();
  check();
  return () => clearInterval(timer);
}

/**
 * Once the parent holding the read end of our stdout/stderr pipes is gone (or the terminal
 * closed), every log line fails with EPIPE or EIO, and an unhandled stream error would kill the
 * process in the middle of its drain. Lines with nowhere to go are dropped instead.
 */
export function ignoreBrokenLogPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'EIO' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    });
  }
}

/**
 * For an app a supervisor started with LIVEMESH_PARENT_PID (`livemesh up`): should the supervisor
 * die without stopping it (SIGKILL, a crash), shut down as on SIGTERM (the app's own drain) instead
 * of running on as an orphan holding its ports. 0 = no parent to follow.
 */
export function stopWithParent(parentPid: number, log: (line: string) => void): void {
  ignoreBrokenLogPipes();
  if (parentPid > 0) {
    watchParent(parentPid, (now) => {
      log(`parent ${parentPid} is gone (ppid now ${now}): shutting down as on SIGTERM`);
      process.kill(process.pid, 'SIGTERM');
    });
  }
}
