import { expect, test } from 'vitest';
import { callbackIdOf, callbackPath, detailState, stepId } from './router';

test('a callback URL round-trips its id', () => {
  expect(callbackIdOf(callbackPath('0193a5b2-7c1d'))).toBe('0193a5b2-7c1d');
  expect(callbackIdOf('/jobs/x')).toBeNull();
  expect(callbackIdOf('/callbacks/')).toBeNull();
  expect(callbackIdOf('/callbacks/%E0%A4%A')).toBeNull();
});

test('history state: only an in-app path is a background', () => {
  expect(detailState({ background: '/?status=error', inApp: true })).toEqual({ background: '/?status=error', inApp: true });
  expect(detailState({ background: '//evil.example/' })).toBeNull();
  expect(detailState({ background: 'https://evil.example/' })).toBeNull();
  expect(detailState(null)).toBeNull();
});

test('j and k step through the list', () => {
  const ids = ['a', 'b', 'c'];
  expect(stepId(ids, 'b', 1)).toBe('c');
  expect(stepId(ids, 'b', -1)).toBe('a');
  expect(stepId(ids, 'c', 1)).toBeNull();
  expect(stepId(ids, 'zz', 1)).toBe('a');
  expect(stepId([], 'zz', 1)).toBeNull();
});
