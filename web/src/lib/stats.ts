// The dashboard's numbers: the time range it asks GetCallbackStats for, and
// the server's buckets turned into series (every bucket of the range, the
// empty ones the server leaves out filled with zeros).

import { StatsBucket, type CallbackStats, type CallbackStatsBucket } from '@callbackd/client';
import { timestampDate } from '@bufbuild/protobuf/wkt';

/** Preset is a range picker choice. */
export type Preset = '24h' | '7d' | '30d' | 'custom';

export const presets: Array<{ id: Exclude<Preset, 'custom'>; label: string; ms: number }> = [
  { id: '24h', label: '24 h', ms: 86_400_000 },
  { id: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { id: '30d', label: '30 d', ms: 30 * 86_400_000 },
];

const hourMs = 3_600_000;
const dayMs = 86_400_000;

/** Range is what the dashboard shows: [after, before) in buckets of bucketMs. */
export interface Range {
  after: Date;
  before: Date;
  bucket: StatsBucket;
  bucketMs: number;
}

/** DashboardQuery is the dashboard's state in the URL. */
export interface DashboardQuery {
  preset: Preset;
  after: string; // ISO, custom only
  before: string; // ISO, custom only
  workflow: string;
}

export function queryFromSearch(search: string): DashboardQuery {
  const p = new URLSearchParams(search);
  const range = p.get('range') ?? '';
  const after = p.get('after') ?? '';
  const before = p.get('before') ?? '';
  const custom = range === 'custom' && !Number.isNaN(Date.parse(after)) && !Number.isNaN(Date.parse(before)) && Date.parse(after) < Date.parse(before);
  const preset: Preset = custom ? 'custom' : presets.some((x) => x.id === range) ? (range as Preset) : '24h';
  return { preset, after: custom ? after : '', before: custom ? before : '', workflow: p.get('workflow')?.trim() ?? '' };
}

export function searchFromQuery(q: DashboardQuery): string {
  const p = new URLSearchParams();
  if (q.preset !== '24h') p.set('range', q.preset);
  if (q.preset === 'custom') {
    p.set('after', q.after);
    p.set('before', q.before);
  }
  if (q.workflow) p.set('workflow', q.workflow);
  const s = p.toString();
  return s ? `?${s}` : '';
}

/**
 * rangeOf turns a query into the range asked for: hours up to a week, days
 * beyond (a month of hours is too many bars to read). A preset ends at the
 * end of the current bucket, so that the newest bar is whole.
 */
export function rangeOf(q: DashboardQuery, now: number): Range {
  let after: number;
  let before: number;
  if (q.preset === 'custom') {
    after = Date.parse(q.after);
    before = Date.parse(q.before);
  } else {
    const span = presets.find((x) => x.id === q.preset)!.ms;
    before = now;
    after = now - span;
  }
  const days = before - after > 7 * dayMs;
  const bucketMs = days ? dayMs : hourMs;
  if (q.preset !== 'custom') {
    const span = before - after;
    before = Math.ceil(now / bucketMs) * bucketMs;
    after = before - Math.ceil(span / bucketMs) * bucketMs;
  }
  return { after: new Date(after), before: new Date(before), bucket: days ? StatsBucket.DAY : StatsBucket.HOUR, bucketMs };
}

/** bucketStarts lists the bucket starts (UTC-aligned) of a range, in ms. */
export function bucketStarts(r: Range): number[] {
  const out: number[] = [];
  for (let t = Math.floor(r.after.getTime() / r.bucketMs) * r.bucketMs; t < r.before.getTime(); t += r.bucketMs) out.push(t);
  return out;
}

const n = (v: bigint | undefined) => Number(v ?? 0n);

/** Row is one bucket's figures. */
export interface Row {
  start: number; // ms
  received: number;
  processed: number;
  error: number;
  count: number;
  failureRate: number | null; // error / count; null without callbacks
  tokens: number;
  costUsd: number;
  p50: number | null;
  p95: number | null;
}

export function rowOf(start: number, s: CallbackStats | undefined): Row {
  const count = n(s?.count);
  const error = n(s?.byStatus.error);
  const durations = n(s?.durationCount) > 0;
  return {
    start,
    received: n(s?.byStatus.received),
    processed: n(s?.byStatus.processed),
    error,
    count,
    failureRate: count > 0 ? error / count : null,
    tokens: n(s?.totalTokens),
    costUsd: s?.costUsd ?? 0,
    p50: durations ? n(s?.durationP50Ms) : null,
    p95: durations ? n(s?.durationP95Ms) : null,
  };
}

/** rows is one Row per bucket of the range, zeros where the server had none. */
export function rows(r: Range, buckets: CallbackStatsBucket[]): Row[] {
  const by = new Map(buckets.map((b) => [b.startTime ? timestampDate(b.startTime).getTime() : NaN, b.stats]));
  return bucketStarts(r).map((t) => rowOf(t, by.get(t)));
}

/** categories lists failures by error category, most first ("" named "uncategorised"). */
export function categories(total: CallbackStats | undefined): Array<{ category: string; count: number }> {
  return Object.entries(total?.failuresByCategory ?? {})
    .map(([category, c]) => ({ category: category || 'uncategorised', count: Number(c) }))
    .sort((a, b) => b.count - a.count || a.category.localeCompare(b.category));
}

/** formatRate is a failure rate for people: "12.5 %", "—" without callbacks. */
export function formatRate(r: number | null): string {
  return r === null ? '—' : `${(r * 100).toFixed(r > 0 && r < 0.1 ? 1 : 0)} %`;
}

/** stacked turns per-status counts into the cumulative series a stacked bar chart draws (bottom first: error, processed, received). */
export function stacked(rs: Row[]): { error: number[]; processed: number[]; received: number[] } {
  return {
    error: rs.map((r) => r.error),
    processed: rs.map((r) => r.error + r.processed),
    received: rs.map((r) => r.error + r.processed + r.received),
  };
}
