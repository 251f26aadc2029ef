import { expect, test } from 'vitest';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { CallbackStatus } from '@callbackd/client';
import { emptyFilters, filtersFromSearch, groupFilters, searchFromFilters, toListRequest, type Filters } from './filters';

test('filters round-trip through the query string', () => {
  const f: Filters = { status: 'error', event: 'workflow.failed', workflow: 'sum & more', job: 'j-1', after: '2025-01-01T00:00:00.000Z', before: '2025-01-02T00:00:00.000Z', unviewed: true, page: 'tok' };
  const s = searchFromFilters(f);
  expect(s).toBe('?status=error&event=workflow.failed&workflow=sum+%26+more&job=j-1&after=2025-01-01T00%3A00%3A00.000Z&before=2025-01-02T00%3A00%3A00.000Z&unviewed=1&page=tok');
  expect(filtersFromSearch(s)).toEqual(f);
});

test('no filters is an empty query string', () => {
  expect(searchFromFilters(emptyFilters)).toBe('');
  expect(filtersFromSearch('')).toEqual(emptyFilters);
});

test('junk in the URL is ignored', () => {
  expect(filtersFromSearch('?status=bogus&after=yesterday&unviewed=yes')).toEqual(emptyFilters);
});

test('filters become a ListCallbacks request', () => {
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
