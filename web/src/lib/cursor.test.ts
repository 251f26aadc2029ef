import { expect, test } from 'vitest';
import { CursorTracker } from './cursor';

test('tracks the last cursor and drops duplicates', () => {
  const t = new CursorTracker();
  expect(t.cursor).toBe('');
  t.position('c1.5');
  expect(t.cursor).toBe('c1.5');
  expect(t.accept('c1.6')).toBe(true);
  expect(t.accept('c1.6')).toBe(false);
  expect(t.cursor).toBe('c1.6');
  t.position('c1.9');
  expect(t.cursor).toBe('c1.9');
  expect(t.accept('')).toBe(false);
  t.position('');
  expect(t.cursor).toBe('c1.9');
  t.reset();
  expect(t.cursor).toBe('');
});

test('forgets the oldest cursors beyond its limit', () => {
  const t = new CursorTracker(2);
  t.accept('a');
  t.accept('b');
  t.accept('c');
  expect(t.accept('b')).toBe(false);
  expect(t.accept('a')).toBe(true);
});
