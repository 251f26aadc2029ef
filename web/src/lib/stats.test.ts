import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { CallbackStatsBucketSchema, CallbackStatsSchema, StatsBucket } from '@callbackd/client';
import { expect, test } from 'vitest';
import { bucketFilters, bucketStarts, categories, categoryFilters, formatRate, queryFromSearch, rangeOf, rowOf, rows, searchFromQuery, segmentAt, stacked } from './stats';
import { searchFromFilters } from './filters';

const now = Date.parse('2025-12-20T10:30:00.000Z');

test('presets: whole hours up to a week, days beyond', () => {
  const day = rangeOf(queryFromSearch(''), now);
  expect(day.bucket).toBe(StatsBucket.HOUR);
  expect(day.before.toISOString()).toBe('2025-12-20T11:00:00.000Z');
  expect(day.after.toISOString()).toBe('2025-12-19T11:00:00.000Z');
  expect(bucketStarts(day)).toHaveLength(24);
  const month = rangeOf(queryFromSearch('?range=30d'), now);
  expect(month.bucket).toBe(StatsBucket.DAY);
  expect(bucketStarts(month)).toHaveLength(30);
  expect(bucketStarts(rangeOf(queryFromSearch('?range=7d'), now))).toHaveLength(168);
});

test('the query round-trips through the URL; junk falls back to 24 h', () => {
  const q = { preset: 'custom' as const, after: '2025-12-01T00:00:00.000Z', before: '2025-12-02T00:00:00.000Z', workflow: 'summarise' };
  expect(queryFromSearch(searchFromQuery(q))).toEqual(q);
  expect(queryFromSearch('?range=custom&after=x&before=y')).toEqual({ preset: '24h', after: '', before: '', workflow: '' });
  expect(queryFromSearch('?range=1y').preset).toBe('24h');
  expect(searchFromQuery(queryFromSearch(''))).toBe('');
});

test('buckets the server left out are zeros; rates and stacks', () => {
  const r = rangeOf(queryFromSearch(''), now);
  const start = new Date('2025-12-20T09:00:00.000Z');
  const stats = create(CallbackStatsSchema, { count: 4n, byStatus: { error: 1n, processed: 2n, received: 1n }, totalTokens: 1200n, costUsd: 0.5, durationCount: 2n, durationP50Ms: 900n, durationP95Ms: 4000n, failuresByCategory: { provider: 1n, '': 3n } });
  const rs = rows(r, [create(CallbackStatsBucketSchema, { startTime: timestampFromDate(start), stats })]);
  expect(rs).toHaveLength(24);
  const hit = rs.find((x) => x.start === start.getTime())!;
  expect(hit).toMatchObject({ count: 4, error: 1, processed: 2, received: 1, failureRate: 0.25, tokens: 1200, p50: 900, p95: 4000 });
  expect(rs.filter((x) => x.count === 0)).toHaveLength(23);
  expect(rs[0]).toMatchObject({ failureRate: null, p50: null });
  expect(stacked([hit])).toEqual({ error: [1], processed: [3], received: [4] });
  expect(formatRate(0.25)).toBe('25 %');
  expect(formatRate(0.034)).toBe('3.4 %');
  expect(formatRate(null)).toBe('—');
  expect(categories(stats)).toEqual([
    { category: 'uncategorised', count: 3 },
    { category: 'provider', count: 1 },
  ]);
});

test('a click on a stacked bar picks the band under the pointer', () => {
  const r = { ...rowOf(0, undefined), error: 2, processed: 3, received: 1, count: 6 };
  // Bottom up: error [0, 2], processed (2, 5], received (5, 6].
  expect(segmentAt(r, -0.3)).toBe('error');
  expect(segmentAt(r, 0.5)).toBe('error');
  expect(segmentAt(r, 2)).toBe('error');
  expect(segmentAt(r, 2.01)).toBe('processed');
  expect(segmentAt(r, 5)).toBe('processed');
  expect(segmentAt(r, 5.5)).toBe('received');
  expect(segmentAt(r, 6.4)).toBe('');
  // Empty bands take no height.
  const noErrors = { ...r, error: 0, count: 4 };
  expect(segmentAt(noErrors, 0.1)).toBe('processed');
  expect(segmentAt({ ...rowOf(0, undefined), received: 2, count: 2 }, 1)).toBe('received');
});

test('a bar opens its bucket of its workflow and status; a category its failures over the range', () => {
  const r = rangeOf(queryFromSearch(''), now);
  const start = Date.parse('2025-12-20T09:00:00.000Z');
  expect(searchFromFilters(bucketFilters(r, start, 'translate', 'processed'))).toBe('?status=processed&workflow=translate&after=2025-12-20T09%3A00%3A00.000Z&before=2025-12-20T10%3A00%3A00.000Z');
  expect(bucketFilters(r, start, '', '')).toMatchObject({ status: '', workflow: '' });
  const cat = categoryFilters(r, 'translate', 'provider');
  expect(cat).toMatchObject({ status: 'error', workflow: 'translate', q: '"provider"', after: r.after.toISOString(), before: r.before.toISOString() });
  // A quote cannot end the phrase early.
  expect(categoryFilters(r, '', 'a"b').q).toBe('"a b"');
  // Failures without a category cannot be searched for: all failures of the range.
  expect(categoryFilters(r, '', 'uncategorised')).toMatchObject({ status: 'error', q: '' });
});
