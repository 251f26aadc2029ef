import { useEffect, useState } from 'react';
import { formatAbsolute, formatRelative } from '../lib/format';

/** useNow ticks every interval, so that relative times stay true. */
export function useNow(intervalMs = 30_000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

/** Time shows a relative time ("2 min. ago"); hovering shows the absolute time with its zone. */
export function Time({ iso, now }: { iso: string; now: number }) {
  if (iso === '') return <span>—</span>;
  return (
    <time dateTime={iso} title={formatAbsolute(iso)} className="whitespace-nowrap">
      {formatRelative(iso, now)}
    </time>
  );
}
