import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, followEvents, getToken, onUnauthorised, setToken, type LiveEvent } from './api.js';
import { BusView } from './views/bus.js';
import { HealthView, useHealth } from './views/health.js';
import { ServicesView } from './views/services.js';
import { StreamView } from './views/stream.js';
import { StreamsView } from './views/streams.js';
import './style.css';

/** What the tests and the bench read: time to the first stream list, and events applied. */
export const stats = { loadStart: performance.now(), firstListMs: -1, events: 0 };
(window as unknown as { __livemesh: typeof stats }).__livemesh = stats;

function useRoute(): string {
  const [hash, setHash] = useState(location.hash || '#/streams');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/streams');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setToken(value.trim());
    try {
      await api('GET', '/api/console/streams');
      onSignedIn();
    } catch (err) {
      setToken(null);
      setError(err instanceof ApiError && err.status === 401 ? `That token is not accepted (${err.message}).` : (err as Error).message);
    }
  };
  return (
    <main class="signin">
      <h1>livemesh console</h1>
      <form onSubmit={submit}>
        <label>
          API token
          <input type="password" autocomplete="off" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} placeholder="lm_..." required />
        </label>
        <button type="submit">Sign in</button>
        {error && <p role="alert">{error}</p>}
      </form>
      <p class="hint">A token with scope read shows streams; platform also starts, changes and stops them; admin also manages services.</p>
    </main>
  );
}

/** Live events fan out to the views through this counter-and-list (one connection for the whole console). */
export interface Live {
  connected: boolean;
  /** Changes with every event: views reload what they show when it does. */
  tick: number;
  last: LiveEvent[];
}

function App() {
  const [signedIn, setSignedIn] = useState(!!getToken());
  const route = useRoute();
  const [live, setLive] = useState<Live>({ connected: false, tick: 0, last: [] });
  const health = useHealth(live.connected);
  useEffect(() => {
    if (!signedIn) return;
    return followEvents(
      '',
      (e) => {
        stats.events++;
        setLive((l) => ({ ...l, tick: l.tick + 1, last: [e, ...l.last].slice(0, 200) }));
      },
      (connected) => setLive((l) => ({ ...l, connected })),
    );
  }, [signedIn]);
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const [, page, id] = route.split('/');
  const signOut = () => {
    setToken(null);
    setSignedIn(false);
  };
  onUnauthorised(signOut);
  return (
    <>
      <header>
        <strong>livemesh</strong>
        <nav aria-label="Main">
          {[
            ['streams', 'Streams'],
            ['services', 'Services'],
            ['bus', 'Bus'],
            ['health', 'Health'],
          ].map(([p, label]) => (
            <a href={`#/${p}`} aria-current={page === p || (p === 'streams' && page === 'stream') ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class={live.connected ? 'ok' : 'bad'} aria-label="Live updates">
          {live.connected ? 'live' : 'reconnecting'}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      {health.problems.length > 0 && (
        <div role="alert" class="banner">
          {health.problems.join(' · ')}
        </div>
      )}
      <main>
        {page === 'stream' && id ? (
          <StreamView id={decodeURIComponent(id)} live={live} />
        ) : page === 'services' ? (
          <ServicesView live={live} />
        ) : page === 'bus' ? (
          <BusView live={live} />
        ) : page === 'health' ? (
          <HealthView health={health} />
        ) : (
          <StreamsView live={live} stats={stats} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
