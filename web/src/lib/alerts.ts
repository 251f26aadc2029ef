// What the alerts page shows of ListAlertRules and ListAlertDeliveries:
// statuses readable without colour, intervals as the configuration writes
// them, and the console address an alert points at.

import type { Duration } from '@bufbuild/protobuf/wkt';
import { movedTo } from './routes';

/** StatusLook is how a delivery status reads: a symbol and a word (never colour alone) and a badge tone. */
export interface StatusLook {
  symbol: string;
  label: string;
  tone: 'badge-green' | 'badge-red' | 'badge-amber' | 'badge-blue' | 'badge-gray';
  /** help says what the status means, for the hover text. */
  help: string;
}

const looks: Record<string, StatusLook> = {
  sent: { symbol: '✓', label: 'sent', tone: 'badge-green', help: 'The channel accepted the alert.' },
  failed: { symbol: '✕', label: 'failed', tone: 'badge-red', help: 'Every attempt failed: the alert was given up.' },
  retrying: { symbol: '↻', label: 'retrying', tone: 'badge-amber', help: 'An attempt failed; another follows with backoff.' },
  sending: { symbol: '→', label: 'sending', tone: 'badge-blue', help: 'An attempt is under way.' },
  pending: { symbol: '…', label: 'pending', tone: 'badge-gray', help: 'Waiting for its first attempt.' },
  cancelled: { symbol: '–', label: 'cancelled', tone: 'badge-gray', help: 'Cancelled before it was sent.' },
};

/** statusLook is how a delivery status reads; an unknown status reads as itself. */
export function statusLook(status: string): StatusLook {
  return looks[status] ?? { symbol: '?', label: status || 'unknown', tone: 'badge-gray', help: '' };
}

/**
 * formatInterval writes a duration as the configuration does ("30s", "10m",
 * "1h30m", "0s"); undefined (not set) is "—".
 */
export function formatInterval(d: Duration | undefined): string {
  if (!d) return '—';
  let s = Math.round(Number(d.seconds) + d.nanos / 1e9);
  if (s <= 0) return '0s';
  const parts: string[] = [];
  for (const [unit, n] of [
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${unit}`);
      s %= n;
    }
  }
  return parts.join('');
}

/**
 * consoleHref is the in-app address of an alert's link, which names the
 * console by --public-url (maybe another host than the one this browser
 * uses): its path and query, moved to where that page lives now (an older
 * link to the history at / opens /callbacks). null for a link that is not
 * a web address.
 */
export function consoleHref(link: string): string | null {
  let u: URL;
  try {
    u = new URL(link);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  // Behind a proxy the console may live under a prefix the browser already has; the app's routes are absolute.
  const path = u.pathname;
  return movedTo(path, u.search) ?? path + u.search;
}

/** lastError is the error of the latest failed attempt ("" when none failed). */
export function lastError(errors: ReadonlyArray<{ attempt: number; error: string }>): string {
  let last: { attempt: number; error: string } | undefined;
  for (const e of errors) if (!last || e.attempt >= last.attempt) last = e;
  return last?.error ?? '';
}
