/**
 * Calls `onGone` once when the process that started this one has gone. A child whose parent dies
 * is re-parented (to init or a subreaper), so a `ppid` that no longer matches is the sign; it also
 * catches a parent that died before this process looked. Polling `ppid` needs no pipe or handle
 * from the parent, so it works whoever spawned the worker and however its stdio is wired.
 */
export function watchParent(parentPid: number, onGone: (nowPpid: number) => void, intervalMs = 500): () => void {
  const check = (): boolean => {
    if (process.ppid === parentPid) return false;
    clearInterval(timer);
    onGone(process.ppid);
    return true;
  };
  const timer = setInterval(check, intervalMs);
  // The watch must not keep an otherwise finished worker alive.
  timer.unref();
  check();
  return () => clearInterval(timer);
}

/**
 * Once the parent holding the read end of our stdout/stderr pipes is gone, every log line fails
 * with EPIPE, and an unhandled stream error would kill the worker in the middle of its drain.
 * Lines with nowhere to go are dropped instead.
 */
export function ignoreBrokenLogPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    });
  }
}
