import { expect, test } from 'vitest';
import { dashboardHref, historyHref, movedTo } from './routes';
import { queryFromSearch, searchFromQuery } from './stats';

test('the history\'s old addresses at / move to /callbacks with the same query', () => {
  expect(movedTo('/', '?status=error&q=timeout')).toBe('/callbacks?status=error&q=timeout');
  expect(movedTo('/', '?unviewed=1')).toBe('/callbacks?unviewed=1');
  // An alert's link: the workflow and the time of its first match.
  expect(movedTo('/', '?workflow=translate&after=2025-12-20T10%3A30%3A00Z')).toBe('/callbacks?workflow=translate&after=2025-12-20T10%3A30%3A00Z');
  expect(movedTo('/callbacks/', '?status=error')).toBe('/callbacks?status=error');
});

test('current addresses stay: the dashboard at /, its views, the history, a callback', () => {
  expect(movedTo('/', '')).toBeNull();
  expect(movedTo('/', '?')).toBeNull();
  expect(movedTo('/', '?range=7d')).toBeNull();
  expect(movedTo('/callbacks', '?status=error')).toBeNull();
  expect(movedTo('/callbacks/0193a5b2', '?status=error')).toBeNull();
  expect(movedTo('/alerts', '')).toBeNull();
  expect(movedTo('/jobs/j', '')).toBeNull();
});

test('every dashboard view the dashboard writes stays the dashboard (its range tells it from a history link)', () => {
  for (const s of ['', '?range=30d', '?workflow=translate', '?range=custom&after=2025-12-01T00:00:00.000Z&before=2025-12-02T00:00:00.000Z&workflow=w']) {
    const written = searchFromQuery(queryFromSearch(s));
    expect(movedTo('/', written), written).toBeNull();
    expect(queryFromSearch(written)).toEqual(queryFromSearch(s));
  }
  expect(searchFromQuery(queryFromSearch('?workflow=translate'))).toBe('?range=24h&workflow=translate');
});

test('the dashboard\'s old address moves home, with its view', () => {
  expect(movedTo('/dashboard', '')).toBe('/');
  expect(movedTo('/dashboard', '?range=7d')).toBe('/?range=7d');
  // Without a range its workflow would read as a history link at /: the move writes the range.
  expect(movedTo('/dashboard', '?workflow=translate')).toBe('/?range=24h&workflow=translate');
  expect(historyHref('')).toBe('/callbacks');
  expect(dashboardHref('?range=7d')).toBe('/?range=7d');
});
