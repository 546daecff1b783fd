/**
 * The idle grace of released services: one timer per service, cancelled when the service is
 * ensured again, unref'd so it never holds the process open.
 */
export class ReleaseTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /** Runs `fn` after `ms` unless cancelled first; replaces the service's earlier timer. */
  schedule(service: string, ms: number, fn: () => void): void {
    this.cancel(service);
    this.timers.set(
      service,
      setTimeout(() => {
        this.timers.delete(service);
        fn();
      }, ms).unref(),
    );
  }

  cancel(service: string): void {
    clearTimeout(this.timers.get(service));
    this.timers.delete(service);
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
