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
