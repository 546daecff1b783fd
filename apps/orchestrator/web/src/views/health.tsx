import { useEffect, useState } from 'preact/hooks';
import type { ComponentsHealth } from '@livemesh/contracts';
import { api } from '../api.js';
import { Head } from '../util.js';

export interface HealthState {
  /** What /health answered last (its JSON), or the error. */
  report: unknown;
  components: ComponentsHealth['components'];
  checkedAt?: string;
  /** What is down, one line each: the banner's content. */
  problems: string[];
}

/** /health (public) and /api/console/health every 5 s, plus whether the live event stream is connected. */
export function useHealth(eventsConnected: boolean): HealthState {
  const [report, setReport] = useState<unknown>();
  const [components, setComponents] = useState<ComponentsHealth['components']>([]);
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
        setComponents((await api<ComponentsHealth>('GET', '/api/console/health')).components);
      } catch (e) {
        setReport(String(e));
        setProblem(`Orchestrator unreachable: ${(e as Error).message}`);
      }
      setCheckedAt(new Date().toISOString());
    };
    void check();
    const t = setInterval(check, 5_000);
    return () => clearInterval(t);
  }, []);
  const problems = [
    problem,
    ...components.filter((c) => !c.up).map((c) => `${c.name} is down: ${c.detail}`),
    wasConnected && !eventsConnected ? 'Live updates lost: reconnecting to the event stream' : undefined,
  ].filter((p): p is string => !!p);
  return { report, components, checkedAt, problems };
}

export function HealthView({ health }: { health: HealthState }) {
  return (
    <section aria-labelledby="health-h">
      <h1 id="health-h">Health</h1>
      <p>{health.problems.length ? 'Something is down (see the banner).' : 'Everything the orchestrator checks is up.'}</p>
      <table aria-label="Components">
        <Head cols={['Component', 'State', 'Detail']} />
        <tbody>
          {health.components.map((c) => (
            <tr aria-label={`Component ${c.name}`}>
              <th scope="row">{c.name}</th>
              <td class={c.up ? 'ok' : 'bad'}>{c.up ? 'up' : 'down'}</td>
              <td>{c.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>/health</h2>
      <pre aria-label="Health report">{JSON.stringify(health.report, null, 2)}</pre>
      <p>Checked at {health.checkedAt}</p>
    </section>
  );
}
