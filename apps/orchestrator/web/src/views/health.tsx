import { useEffect, useState } from 'preact/hooks';

export interface HealthState {
  /** What /health answered last (its JSON), or the error. */
  report: unknown;
  checkedAt?: string;
  /** What is down, one line each: the banner's content. */
  problems: string[];
}

/** /health every 10 s (public, one call), plus whether the live event stream is connected. */
export function useHealth(eventsConnected: boolean): HealthState {
  const [report, setReport] = useState<unknown>();
  const [problem, setProblem] = useState<string>();
  const [checkedAt, setCheckedAt] = useState<string>();
  const [wasConnected, setWasConnected] = useState(false);
  useEffect(() => {
    if (eventsConnected) setWasConnected(true);
  }, [eventsConnected]);
  useEffect(() => {
    const check = async () => {
      try {
        const res = await fetch('/health');
        const body = (await res.json()) as { message?: string };
        setReport(body);
        setProblem(res.ok ? undefined : `Orchestrator not ready: ${body.message ?? res.status}`);
      } catch (e) {
        setReport(String(e));
        setProblem(`Orchestrator unreachable: ${(e as Error).message}`);
      }
      setCheckedAt(new Date().toISOString());
    };
    void check();
    const t = setInterval(check, 10_000);
    return () => clearInterval(t);
  }, []);
  const problems = [problem, wasConnected && !eventsConnected ? 'Live updates lost: reconnecting to the event stream' : undefined].filter((p): p is string => !!p);
  return { report, checkedAt, problems };
}

export function HealthView({ health }: { health: HealthState }) {
  return (
    <section aria-labelledby="health-h">
      <h1 id="health-h">Health</h1>
      <p>{health.problems.length ? 'Something is down (see the banner).' : 'Everything the orchestrator checks is up.'}</p>
      <h2>/health</h2>
      <pre aria-label="Health report">{JSON.stringify(health.report, null, 2)}</pre>
      <p>Checked at {health.checkedAt}</p>
    </section>
  );
}
