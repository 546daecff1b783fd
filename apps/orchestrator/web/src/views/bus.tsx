import { api, type BusView as Bus } from '../api.js';
import type { Live } from '../main.js';
import { bytes, useLoader, Head } from '../util.js';

export function BusView({ live }: { live: Live }) {
  const { data, error } = useLoader(() => api<Bus>('GET', '/api/bus'), live.tick, 3000, 1000);
  return (
    <section aria-labelledby="bus-h">
      <h1 id="bus-h">Bus</h1>
      {error && <p role="alert">{error}</p>}
      {data && (
        <>
          <p aria-label="NATS connection">
            NATS: <span class={data.connection.connected ? 'ok' : 'bad'}>{data.connection.connected ? `connected, round trip ${data.connection.rttMs} ms` : `not connected (${data.connection.error ?? 'closed'})`}</span>
          </p>
          <table aria-label="JetStream streams">
            <Head cols={['Stream', 'Messages', 'Size']} />
            <tbody>
              {data.streams.map((s) => (
                <tr aria-label={`Stream ${s.name}`}>
                  <th scope="row">{s.name}</th>
                  <td>{s.error ? <span class="bad">{s.error}</span> : s.messages}</td>
                  <td>{s.error ? '' : bytes(s.bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <table aria-label="Consumers">
            <Head cols={['Consumer', 'On', 'Lag (undelivered)', 'Unacknowledged', 'Redelivered']} />
            <tbody>
              {data.consumers.map((c) => (
                <tr aria-label={`Consumer ${c.name}`}>
                  <th scope="row">{c.name}</th>
                  <td>{c.stream}</td>
                  <td>{c.pending}</td>
                  <td>{c.ackPending}</td>
                  <td>{c.redelivered}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
