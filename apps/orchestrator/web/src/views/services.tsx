import { useState } from 'preact/hooks';
import { api, ApiError, type ServiceStatus } from '../api.js';
import type { Live } from '../main.js';
import { duration, useLoader, Head } from '../util.js';

export function ServicesView({ live }: { live: Live }) {
  const { data, error, reload } = useLoader(() => api<ServiceStatus[]>('GET', '/api/console/services'), live.tick, 3000, 1000);
  const now = Date.now();
  return (
    <section aria-labelledby="services-h">
      <h1 id="services-h">Services</h1>
      {error && <p role="alert">{error.includes('needs scope admin') ? 'The services are shown to an admin token only.' : error}</p>}
      <table aria-label="Services">
        <Head cols={['Service', 'Version', 'Replicas', 'Lag (waiting)', 'In work', 'Processed', 'Failures', 'Time per segment', 'Heartbeats', 'Scale']} />
        <tbody>
          {(data ?? []).map((s) => {
            const running = s.instances.filter((i) => i.state !== 'exited').length;
            const sum = (f: (h: ServiceStatus['heartbeats'][number]) => number) => s.heartbeats.reduce((a, h) => a + f(h), 0);
            return (
              <tr key={s.name} aria-label={`Service ${s.name}`}>
                <th scope="row" title={s.description}>
                  {s.name}
                  {s.builtIn ? ' (built in)' : ''}
                  {s.autoscale ? ' (autoscaled)' : ''}
                </th>
                <td>{s.version}</td>
                <td aria-label={`Replicas of ${s.name}`}>{running}</td>
                <td>{s.lag ? s.lag.pending : '–'}</td>
                <td>{s.lag ? s.lag.ackPending : '–'}</td>
                <td>{sum((h) => h.processed)}</td>
                <td class={sum((h) => h.failed) ? 'bad' : ''}>{sum((h) => h.failed)}</td>
                <td aria-label={`Time per segment of ${s.name}`}>{msMean(s.heartbeats)}</td>
                <td>
                  {s.heartbeats.map((h) => (
                    <div>
                      {h.workerId} on {h.host}: {duration(h.at, now)} ago
                      {h.msPerSegment !== undefined ? `, ${h.msPerSegment} ms per segment` : ''}
                    </div>
                  ))}
                </td>
                <td>
                  <ScaleForm service={s} onScaled={reload} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <RegisterService onSaved={reload} />
    </section>
  );
}

/** The mean of the workers' processing times per segment, over those that have processed one. */
function msMean(beats: ServiceStatus['heartbeats']): string {
  const ms = beats.map((h) => h.msPerSegment).filter((m): m is number => m !== undefined);
  return ms.length ? `${Math.round(ms.reduce((a, m) => a + m, 0) / ms.length)} ms` : '';
}

function ScaleForm({ service, onScaled }: { service: ServiceStatus; onScaled: () => void }) {
  const [n, setN] = useState(String(Math.max(service.instances.length, service.minReplicas ?? 0)));
  const [error, setError] = useState<string>();
  return (
    <form
      class="inline"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        try {
          await api('POST', `/api/services/${service.name}/scale`, { replicas: Number(n) });
          onScaled();
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <input type="number" min={0} max={service.maxReplicas ?? 64} value={n} onInput={(e) => setN((e.target as HTMLInputElement).value)} aria-label={`Replica count for ${service.name}`} />
      <button type="submit">Scale {service.name}</button>
      {error && <span role="alert">{error}</span>}
    </form>
  );
}

const EXAMPLE = { name: 'pixelate', version: '1.0.0', description: 'pixelates a rectangle', run: { image: '127.0.0.1:5000/livemesh/pixelate:1.0.0' }, input: 'segments', paramSchema: { type: 'object', additionalProperties: false, properties: {} }, minReplicas: 0, maxReplicas: 4 };

function RegisterService({ onSaved }: { onSaved: () => void }) {
  const [text, setText] = useState(JSON.stringify(EXAMPLE, null, 1));
  const [status, setStatus] = useState<string>();
  const [error, setError] = useState<string>();
  return (
    <form
      class="editor"
      aria-labelledby="register-h"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        setStatus(undefined);
        let spec: { name?: string };
        try {
          spec = JSON.parse(text) as { name?: string };
        } catch (err) {
          setError(`Not JSON: ${(err as Error).message}`);
          return;
        }
        try {
          await api('PUT', `/api/services/${encodeURIComponent(spec.name ?? '')}`, spec);
          setStatus(`Service ${spec.name} saved.`);
          onSaved();
        } catch (err) {
          setError(err instanceof ApiError ? err.message : String(err));
        }
      }}
    >
      <h2 id="register-h">Register or update a service</h2>
      <label>
        Service specification (JSON)
        <textarea rows={10} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} spellcheck={false} />
      </label>
      <button type="submit">Save service</button>
      {error && <p role="alert">{error}</p>}
      {status && <p role="status">{status}</p>}
    </form>
  );
}
