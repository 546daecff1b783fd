import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, type StreamDetail, type StreamSummary } from '../api.js';
import type { Live } from '../main.js';
import { duration, useLoader, Head } from '../util.js';

export function StreamsView({ live, stats }: { live: Live; stats: { loadStart: number; firstListMs: number } }) {
  const { data, error, reload } = useLoader(() => api<StreamSummary[]>('GET', '/api/console/streams'), live.tick, 5000, 1000);
  const [query, setQuery] = useState('');
  const [state, setState] = useState('');
  // Which source each stream publishes with, as ingest announced it (rtmp, srt) on `publishing`.
  const [sources, setSources] = useState<Record<string, string>>({});
  useEffect(() => {
    const e = live.last[0];
    if (e?.type === 'stream' && e.body.kind === 'publishing' && e.body.streamId && typeof e.body.data?.source === 'string') {
      setSources((s) => ({ ...s, [e.body.streamId!]: String(e.body.data!.source) }));
    }
  }, [live.tick]);
  useEffect(() => {
    if (data && stats.firstListMs < 0) stats.firstListMs = performance.now() - stats.loadStart;
  }, [data]);
  const rows = useMemo(() => {
    const q = query.trim().toLowerCase();
    return (data ?? []).filter((s) => (!state || s.state === state) && (!q || s.id.toLowerCase().includes(q) || s.pipeline.toLowerCase().includes(q) || s.services.some((x) => x.includes(q))));
  }, [data, query, state]);
  const now = Date.now();
  return (
    <section aria-labelledby="streams-h">
      <h1 id="streams-h">Streams</h1>
      <StartStream onStarted={reload} />
      <div class="filters">
        <label>
          Search streams
          <input type="search" value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} placeholder="id, pipeline or service" />
        </label>
        <label>
          Filter by state
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {['starting', 'live', 'stopping', 'ended', 'failed'].map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <span aria-live="polite">
          {rows.length} of {data?.length ?? 0} streams
        </span>
      </div>
      {error && <p role="alert">{error}</p>}
      <table aria-label="Streams">
        <Head cols={['Stream', 'State', 'Pipeline', 'Chain', 'Source', 'Uptime', 'Segments in', 'Segments out', 'Waiting', 'Dead letters', 'Input bitrate', 'Ingest to playlist', 'Actions']} />
        <tbody>
          {rows.map((s) => (
            <tr key={s.id} aria-label={`Stream ${s.id}`}>
              <th scope="row">
                <a href={`#/stream/${encodeURIComponent(s.id)}`}>{s.id}</a>
              </th>
              <td>
                <span class={`state ${s.state}`}>{s.state}</span>
              </td>
              <td>{s.pipeline}</td>
              <td>{s.services.join(' → ')}</td>
              <td>{s.source === 'pull' ? 'pull' : (sources[s.id] ?? 'publish')}</td>
              <td>{s.state === 'live' || s.state === 'starting' ? duration(s.createdAt, now) : ''}</td>
              <td>{s.segmentsIn}</td>
              <td>{s.segmentsOut}</td>
              <td>{s.pending}</td>
              <td class={s.deadLetters ? 'bad' : ''}>{s.deadLetters}</td>
              <td aria-label={`Input bitrate of ${s.id}`}>{s.inputKbps !== undefined ? `${Math.round(s.inputKbps)} kb/s` : ''}</td>
              <td>{s.latency ? `${(s.latency.ingestToPlaylistMs.p50 / 1000).toFixed(1)} s` : ''}</td>
              <td>{(s.state === 'live' || s.state === 'starting') && <StopButton id={s.id} onStopped={reload} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function StopButton({ id, onStopped }: { id: string; onStopped: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <>
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await api('DELETE', `/api/streams/${encodeURIComponent(id)}`);
            onStopped();
          } catch (e) {
            setError((e as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        Stop stream {id}
      </button>
      {error && <span role="alert">{error}</span>}
    </>
  );
}

function StartStream({ onStarted }: { onStarted: () => void }) {
  const [id, setId] = useState('');
  const [pipeline, setPipeline] = useState('');
  const [attrs, setAttrs] = useState('');
  const [result, setResult] = useState<StreamDetail>();
  const [error, setError] = useState<string>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const attributes: Record<string, string> = {};
    for (const pair of attrs.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [k, ...v] = pair.split('=');
      attributes[k!.trim()] = v.join('=').trim();
    }
    try {
      const view = await api<StreamDetail>('POST', '/api/streams', { id: id.trim(), ...(pipeline.trim() ? { pipeline: pipeline.trim() } : {}), ...(Object.keys(attributes).length ? { attributes } : {}) });
      setResult(view);
      onStarted();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <details class="start">
      <summary>Start a stream</summary>
      <form onSubmit={submit}>
        <label>
          Stream id
          <input value={id} onInput={(e) => setId((e.target as HTMLInputElement).value)} required pattern="[A-Za-z0-9_-]{1,64}" />
        </label>
        <label>
          Pipeline
          <input value={pipeline} onInput={(e) => setPipeline((e.target as HTMLInputElement).value)} placeholder="chosen by attributes" />
        </label>
        <label>
          Attributes
          <input value={attrs} onInput={(e) => setAttrs((e.target as HTMLInputElement).value)} placeholder="category=game, region=eu" />
        </label>
        <button type="submit">Start stream</button>
        {error && <p role="alert">{error}</p>}
        {result && (
          <p role="status">
            Started {result.id}. Publish to <code>{result.publish.rtmp}</code>
            {result.publish.key ? ' (the key is shown only now)' : ''}.
          </p>
        )}
      </form>
    </details>
  );
}
