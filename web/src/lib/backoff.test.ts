import { expect, test } from 'vitest';
import { backoffDelay } from './backoff';

test('backoff grows, is jittered, and is capped', () => {
  const opts = { baseMs: 500, maxMs: 15_000 };
  expect(backoffDelay(0, opts, () => 0)).toBe(250);
  expect(backoffDelay(0, opts, () => 1)).toBe(500);
  expect(backoffDelay(3, opts, () => 1)).toBe(4000);
  expect(backoffDelay(50, opts, () => 1)).toBe(15_000);
  expect(backoffDelay(50, opts, () => 0)).toBe(7500);
});
