// Display formats.

export function formatTime(iso: string): string {
  if (iso === '') return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

export function formatCost(usd: number): string {
  // LLM calls cost fractions of a cent: keep four decimals below a dollar.
  return `$${usd.toFixed(Math.abs(usd) < 1 ? 4 : 2)}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** formatAbsolute is a time with its zone, for hover text: "20 Dec 2025, 10:30:00 UTC". */
export function formatAbsolute(iso: string, timeZone?: string): string {
  if (iso === '') return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'long', ...(timeZone ? { timeZone } : {}) });
}

const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/**
 * formatRelative is a time as an admin scans it: "just now", "2 min ago",
 * "3 hr ago", "yesterday", then the date itself past a week.
 */
export function formatRelative(iso: string, now: number, locale = 'en'): string {
  if (iso === '') return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const ago = now - t;
  if (Math.abs(ago) < 45_000) return 'just now';
  if (Math.abs(ago) >= 7 * 86_400_000) return new Date(t).toLocaleDateString(locale, { dateStyle: 'medium' });
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto', style: 'short' });
  for (const [unit, ms] of units) {
    if (Math.abs(ago) >= ms || unit === 'minute') return rtf.format(-Math.round(ago / ms), unit);
  }
  return 'just now';
}

/** formatCount is a count with thousands separators: 1,284. */
export function formatCount(n: number | bigint): string {
  return n.toLocaleString('en-US');
}

/** formatBytes is a size for people: 812 B, 1.5 KiB, 2.0 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
