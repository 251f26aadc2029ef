// The dashboard's numbers: the time range it asks GetCallbackStats for, and
// the server's buckets turned into series (every bucket of the range, the
// empty ones the server leaves out filled with zeros).

import { StatsBucket, type CallbackStats, type CallbackStatsBucket } from '@callbackd/client';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { emptyFilters, type Filters } from './filters';

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

/**
 * searchFromQuery writes the dashboard's query: "" for the default view, and
 * otherwise always with its range, which tells the dashboard's address at /
 * from the history's old one (see routes.ts).
 */
export function searchFromQuery(q: DashboardQuery): string {
  const p = new URLSearchParams();
  if (q.preset !== '24h' || q.workflow) p.set('range', q.preset);
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

/** uncategorised names the failures whose payload has no error.category. */
export const uncategorised = 'uncategorised';

/** categories lists failures by error category, most first ("" named "uncategorised"). */
export function categories(total: CallbackStats | undefined): Array<{ category: string; count: number }> {
  return Object.entries(total?.failuresByCategory ?? {})
    .map(([category, c]) => ({ category: category || uncategorised, count: Number(c) }))
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

/** Segment is the status of one band of a stacked bar. */
export type Segment = 'error' | 'processed' | 'received';

/**
 * segmentAt is the band of a bucket's stacked bar at height y (in
 * callbacks, as the chart's y scale reads the pointer), or '' above the
 * bar. The bands stack as stacked draws them: error at the bottom, then
 * processed, then received.
 */
export function segmentAt(r: Row, y: number): Segment | '' {
  const h = Math.max(0, y);
  if (r.error > 0 && h <= r.error) return 'error';
  if (r.processed > 0 && h <= r.error + r.processed) return 'processed';
  if (r.received > 0 && h <= r.count) return 'received';
  return '';
}

/** bucketFilters selects the callbacks of one bucket: of a workflow ("" any) and a status ("" any). */
export function bucketFilters(r: Range, start: number, workflow: string, status: Segment | ''): Filters {
  return { ...emptyFilters, status, workflow, after: new Date(start).toISOString(), before: new Date(start + r.bucketMs).toISOString() };
}

/**
 * categoryFilters selects the failures of an error category over the range.
 * ListCallbacks has no category filter, so the category is a quoted search
 * phrase: it also finds a failure whose payload says the word elsewhere
 * (the error message, say). "uncategorised" cannot be searched for: it
 * selects every failure of the range.
 */
export function categoryFilters(r: Range, workflow: string, category: string): Filters {
  const q = category === uncategorised ? '' : `"${category.replaceAll('"', ' ')}"`;
  return { ...emptyFilters, status: 'error', workflow, q, after: r.after.toISOString(), before: r.before.toISOString() };
}
