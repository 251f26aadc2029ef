import { expect, test } from 'vitest';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { CallbackStatus } from '@callbackd/client';
import { emptyFilters, filtersFromSearch, fromLocalInput, groupFilters, pageRange, searchFromFilters, toListRequest, toLocalInput, toMarkAllViewedRequest, type Filters } from './filters';

test('filters round-trip through the query string', () => {
  const f: Filters = { status: 'error', event: 'workflow.failed', workflow: 'sum & more', job: 'j-1', after: '2025-01-01T00:00:00.000Z', before: '2025-01-02T00:00:00.000Z', unviewed: true, q: '"timed out" provider*', size: 50, page: 'tok', start: 50 };
  const s = searchFromFilters(f);
  expect(s).toBe('?status=error&event=workflow.failed&workflow=sum+%26+more&job=j-1&after=2025-01-01T00%3A00%3A00.000Z&before=2025-01-02T00%3A00%3A00.000Z&unviewed=1&q=%22timed+out%22+provider*&size=50&page=tok&start=50');
  expect(filtersFromSearch(s)).toEqual(f);
});

test('no filters is an empty query string', () => {
  expect(searchFromFilters(emptyFilters)).toBe('');
  expect(filtersFromSearch('')).toEqual(emptyFilters);
});

test('junk in the URL is ignored', () => {
  expect(filtersFromSearch('?status=bogus&after=yesterday&unviewed=yes&size=7&start=9')).toEqual(emptyFilters);
  // A position without its page token is the first page.
  expect(filtersFromSearch('?start=25').start).toBe(0);
});

test('filters become a ListCallbacks request', () => {
  expect(toListRequest({ ...emptyFilters, q: 'timeout', size: 100 }).pageSize).toBe(100);
  expect(toListRequest({ ...emptyFilters, q: 'timeout' }).query).toBe('timeout');
  const req = toListRequest({ ...emptyFilters, status: 'processed', job: 'j', after: '2025-01-01T00:00:00.000Z', unviewed: true, page: 'p' }, 10);
  expect(req.status).toBe(CallbackStatus.PROCESSED);
  expect(req.externalJobId).toBe('j');
  expect(req.pageToken).toBe('p');
  expect(req.pageSize).toBe(10);
  expect(req.unviewedOnly).toBe(true);
  expect(timestampDate(req.createTimeAfter!).toISOString()).toBe('2025-01-01T00:00:00.000Z');
  expect(req.createTimeBefore).toBeUndefined();
});

test('a group toast selects its time range, end inclusive', () => {
  const f = groupFilters('2025-01-01T00:00:01.000Z', '2025-01-01T00:00:09.500Z');
  expect(f.after).toBe('2025-01-01T00:00:01.000Z');
  expect(f.before).toBe('2025-01-01T00:00:09.501Z');
});

test('Mark all as viewed takes the filters and the search, not the page', () => {
  const req = toMarkAllViewedRequest({ ...emptyFilters, status: 'error', workflow: 'w', q: 'x', page: 'p', start: 25 });
  expect(req.status).toBe(CallbackStatus.ERROR);
  expect(req.workflowName).toBe('w');
  expect(req.query).toBe('x');
});

test('page ranges', () => {
  expect(pageRange(25, 25, 1284n, false)).toBe('26–50 of 1,284');
  expect(pageRange(0, 25, 12000n, true)).toBe('1–25 of about 12,000');
  expect(pageRange(0, 0, 0n, false)).toBe('0 of 0');
  expect(pageRange(0, 3, null, false)).toBe('1–3');
});

test('datetime-local inputs keep the precision of the instant', () => {
  for (const iso of ['2025-01-01T01:57:00.000Z', '2025-01-01T01:57:09.000Z', '2025-01-01T01:57:09.123Z']) {
    expect(fromLocalInput(toLocalInput(iso))).toBe(iso);
  }
  const ms = toLocalInput('2025-01-01T01:57:09.123Z');
  expect(ms).toMatch(/:\d{2}:09\.123$/);
  expect(toLocalInput('2025-01-01T01:57:00.000Z')).toMatch(/T\d{2}:57$/);
  expect(toLocalInput('')).toBe('');
});
