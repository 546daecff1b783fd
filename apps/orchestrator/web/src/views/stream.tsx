import { useEffect, useRef, useState } from 'preact/hooks';
import { api, apiBlob, followEvents, type LiveEvent, type ServiceStatus, type StreamDetail } from '../api.js';
import type { Live } from '../main.js';
import { useLoader } from '../util.js';
import { StopButton } from './streams.js';

export function StreamView({ id, live }: { id: string; live: Live }) {
  // This stream's events, from the oldest LM_EVT keeps, then live: the log, and the reason to reload.
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    setEvents([]);
    return followEvents(`?stream=${encodeURIComponent(id)}`, (e) => {
      setEvents((l) => [e, ...l].slice(0, 500));
      setTick((t) => t + 1);
    });
  }, [id]);
  const { data: s, error, reload } = useLoader(() => api<StreamDetail>('GET', `/api/streams/${encodeURIComponent(id)}`), tick, 3000, 500);
  // Replicas per service: admin only; a read or platform token simply does not see them.
  const { data: services } = useLoader(() => api<ServiceStatus[]>('GET', '/api/console/services').catch(() => [] as ServiceStatus[]), live.tick, 5000, 2000);
  const thumbTick = events.filter((e) => e.body.kind === 'thumbnail').length;
  if (!s) return <p>{error ?? `Loading ${id}…`}</p>;
  const replicas = new Map((services ?? []).map((x) => [x.name, x.instances.filter((i) => i.state !== 'exited').length]));
  const renditions = Object.entries(s.output?.segments ?? {});
  return (
    <section aria-labelledby="stream-h">
      <h1 id="stream-h">
        Stream {s.id} <span class={`state ${s.state}`}>{s.state}</span>
      </h1>
      <p>
        <a href="#/streams">All streams</a> · chain version {s.chain.version} · publish <code>{s.publish.rtmp}</code>
        {s.latency && <> · ingest to playlist {(s.latency.ingestToPlaylistMs.p50 / 1000).toFixed(1)} s (p50)</>}{' '}
        {(s.state === 'live' || s.state === 'starting') && <StopButton id={s.id} onStopped={reload} />}
      </p>
      <h2>Chain</h2>
      <ol class="chain" aria-label="Chain">
        <li class="node edge" aria-label="ingest">
          <strong>ingest</strong>
          <small>RTMP / SRT / pull</small>
        </li>
        {s.chain.hops.map((h, i) => (
          <li class="node" aria-label={`Hop ${i}: ${h.service}`}>
            <strong>{h.service}</strong>
            <small>
              hop {i}
              {h.fusedThrough !== undefined && ` · runs through hop ${h.fusedThrough}`}
              {h.fusedInto !== undefined && ` · fused into hop ${h.fusedInto}`}
            </small>
            <code title="subject">{h.subject}</code>
            <span>{h.fusedInto !== undefined ? `runs in hop ${h.fusedInto}'s workers` : `replicas: ${replicas.get(h.service) ?? '?'}`}</span>
            {h.counters && (
              <span>
                processed {h.counters.processed} · waiting {h.counters.pending} · failed {h.counters.failed}
              </span>
            )}
            <details>
              <summary>parameters</summary>
              <pre>{JSON.stringify(h.params, null, 1)}</pre>
            </details>
          </li>
        ))}
        <li class="node edge" aria-label="delivery">
          <strong>delivery</strong>
          <small>{renditions.length ? renditions.map(([r, n]) => `${r}: ${n} segments`).join(', ') : 'no output yet'}</small>
        </li>
      </ol>
      <div class="media">
        <Preview url={s.playback.hls} />
        <Thumbnail id={s.id} tick={thumbTick} />
      </div>
      <ChainEditor stream={s} services={services} onChanged={reload} />
      <h2>Dead letters and drops</h2>
      {s.errors.length === 0 ? (
        <p>None.</p>
      ) : (
        <ul aria-label="Errors">
          {[...s.errors].reverse().map((e) => (
            <li>
              <time>{e.at}</time> {e.message}
            </li>
          ))}
        </ul>
      )}
      <h2>Events</h2>
      <ol class="log" aria-label="Event log" reversed>
        {events.map((e) => (
          <li>
            <time>{e.body.at}</time> <strong>{e.body.kind}</strong> {e.body.service ? `${e.body.service} ` : ''}
            {e.body.hop !== undefined ? `hop ${e.body.hop} ` : ''}
            {e.body.seq !== undefined ? `seq ${e.body.seq} ` : ''}
            {e.body.message ?? ''}
          </li>
        ))}
      </ol>
    </section>
  );
}

function Preview({ url }: { url: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string>();
  // Same origin as the console: the proxy's path, whatever host the API put in the URL.
  const u = new URL(url, location.href);
  const src = u.pathname + u.search;
  useEffect(() => {
    let destroyed = false;
    let hls: { destroy(): void } | undefined;
    void import('hls.js').then(({ default: Hls }) => {
      if (destroyed || !video.current) return;
      const v = video.current;
      if (!Hls.isSupported()) {
        v.src = src;
        return;
      }
      const h = new Hls({ liveSyncDurationCount: 3, manifestLoadingMaxRetry: 30, manifestLoadingRetryDelay: 1000 });
      h.on(Hls.Events.ERROR, (_e, d) => {
        if (d.fatal) setError(`${d.type}: ${d.details}`);
      });
      h.on(Hls.Events.MANIFEST_PARSED, () => void v.play().catch(() => {}));
      h.loadSource(src);
      h.attachMedia(v);
      hls = h;
    });
    return () => {
      destroyed = true;
      hls?.destroy();
    };
  }, [src]);
  return (
    <figure>
      <video ref={video} aria-label="Live preview" muted playsInline controls width={480} />
      <figcaption>Live preview{error && <span role="alert"> · playback error {error}</span>}</figcaption>
    </figure>
  );
}

function Thumbnail({ id, tick }: { id: string; tick: number }) {
  const [src, setSrc] = useState<string>();
  useEffect(() => {
    let url: string | undefined;
    void apiBlob(`/api/streams/${encodeURIComponent(id)}/thumbnail.jpg`).then((b) => {
      if (b) setSrc((url = URL.createObjectURL(b)));
    });
    return () => {
      if (url) URL.revokeObjectURL(url);
    };
  }, [id, tick]);
  return <figure>{src ? <img src={src} alt={`Latest thumbnail of ${id}`} width={240} /> : <figcaption>No thumbnail (a chain with the thumbnail service makes one).</figcaption>}</figure>;
}

function ChainEditor({ stream, services, onChanged }: { stream: StreamDetail; services: ServiceStatus[] | undefined; onChanged: () => void }) {
  const current = () => JSON.stringify(stream.chain.hops.map((h) => ({ service: h.service, params: h.params })), null, 1);
  const [text, setText] = useState(current);
  const [fuse, setFuse] = useState(true);
  const [add, setAdd] = useState('');
  const [status, setStatus] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => setText(current()), [stream.chain.version]);
  const apply = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    let stages: unknown;
    try {
      stages = JSON.parse(text);
    } catch (err) {
      setError(`The stages are not JSON: ${(err as Error).message}`);
      return;
    }
    try {
      const view = await api<StreamDetail>('PATCH', `/api/streams/${encodeURIComponent(stream.id)}/chain`, { stages, fuse });
      setStatus(`Chain version ${view.chain.version} applied: ${view.chain.hops.map((h) => h.service).join(' → ')}`);
      onChanged();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="editor" onSubmit={apply} aria-labelledby="editor-h">
      <h2 id="editor-h">Change the chain</h2>
      <label>
        Chain stages (JSON)
        <textarea rows={8} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} spellcheck={false} />
      </label>
      <div>
        <label>
          Service to add
          <select value={add} onChange={(e) => setAdd((e.target as HTMLSelectElement).value)}>
            <option value="">choose…</option>
            {(services ?? []).map((s) => (
              <option value={s.name}>{s.name}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          disabled={!add}
          onClick={() => {
            try {
              const stages = JSON.parse(text) as unknown[];
              setText(JSON.stringify([...stages, { service: add }], null, 1));
            } catch (err) {
              setError(`The stages are not JSON: ${(err as Error).message}`);
            }
          }}
        >
          Add stage
        </button>
        <label>
          <input type="checkbox" checked={fuse} onChange={(e) => setFuse((e.target as HTMLInputElement).checked)} /> Fuse adjacent stages
        </label>
      </div>
      <button type="submit">Apply chain change</button>
      {error && <p role="alert">{error}</p>}
      {status && <p role="status">{status}</p>}
    </form>
  );
}
