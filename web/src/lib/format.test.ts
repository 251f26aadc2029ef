import { expect, test } from 'vitest';
import { formatAbsolute, formatBytes, formatCount, formatRelative } from './format';

const now = Date.parse('2025-12-20T12:00:00.000Z');

test('relative times', () => {
  expect(formatRelative('2025-12-20T11:59:50.000Z', now)).toBe('just now');
  expect(formatRelative('2025-12-20T11:58:00.000Z', now)).toBe('2 min. ago');
  expect(formatRelative('2025-12-20T09:00:00.000Z', now)).toBe('3 hr. ago');
  expect(formatRelative('2025-12-19T12:00:00.000Z', now)).toBe('yesterday');
  expect(formatRelative('2025-11-01T12:00:00.000Z', now)).toBe('Nov 1, 2025');
  expect(formatRelative('', now)).toBe('—');
});

test('absolute times name their zone', () => {
  expect(formatAbsolute('2025-12-20T10:30:00.000Z', 'UTC')).toMatch(/UTC$/);
  expect(formatAbsolute('2025-12-20T10:30:00.000Z', 'Europe/Berlin')).toMatch(/GMT\+1|CET/);
});

test('counts and sizes', () => {
  expect(formatCount(1284)).toBe('1,284');
  expect(formatBytes(812)).toBe('812 B');
  expect(formatBytes(1536)).toBe('1.5 KiB');
});
