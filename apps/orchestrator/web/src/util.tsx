import { useEffect, useRef, useState } from 'preact/hooks';

export function duration(fromIso: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 1000));
  if (!Number.isFinite(s)) return '';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Calls `load` now, whenever `bump` changes (throttled to once per `minMs`), and every `everyMs` while mounted. */
export function useLoader<T>(load: () => Promise<T>, bump: number, everyMs: number, minMs = 500): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const last = useRef(0);
  const timer = useRef<number | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const run = () => {
    last.current = Date.now();
    loadRef.current().then(
      (d) => {
        setData(d);
        setError(undefined);
      },
      (e: Error) => setError(e.message),
    );
  };
  useEffect(() => {
    const wait = last.current + minMs - Date.now();
    if (wait <= 0) run();
    else if (timer.current === undefined) {
      timer.current = window.setTimeout(() => {
        timer.current = undefined;
        run();
      }, wait);
    }
  }, [bump]);
  useEffect(() => {
    const t = window.setInterval(run, everyMs);
    return () => {
      window.clearInterval(t);
      if (timer.current !== undefined) window.clearTimeout(timer.current);
    };
  }, [everyMs]);
  return { data, error, reload: run };
}

/** A table's header row: one column header per label. */
export function Head({ cols }: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th scope="col">{c}</th>
        ))}
      </tr>
    </thead>
  );
}
