import { create } from '@bufbuild/protobuf';
import { TimestampSchema, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { CallbackEventSchema, CallbackViewBatchSchema } from '@callbackd/client';
import { expect, test } from 'vitest';
import { aboutOneCallback, isoTime, toLiveEvent } from './events';

test('a batch of views (Mark all as viewed) is a live event that tabs can relay', () => {
  const e = create(CallbackEventSchema, {
    cursor: 'c-9',
    event: { case: 'viewedMany', value: create(CallbackViewBatchSchema, { adminId: 'a1', adminName: 'ui', viewTime: timestampFromDate(new Date('2025-12-20T10:30:00.000Z')), count: 17n }) },
  });
  const ev = toLiveEvent(e);
  expect(ev).toEqual({ cursor: 'c-9', kind: 'viewed_many', batch: { adminId: 'a1', adminName: 'ui', viewTime: '2025-12-20T10:30:00.000Z', count: 17 } });
  // BroadcastChannel carries structured clones: no bigint, no class instances.
  expect(structuredClone(ev)).toEqual(ev);
  expect(aboutOneCallback(ev!)).toBe(false);
  expect(toLiveEvent(create(CallbackEventSchema, { cursor: 'c-10' }))).toBeNull();
});

test('isoTime truncates to the millisecond, so that a range from the earliest time holds it', () => {
  // Stored 18:55:18.783629: rounded it would read .784, after the callback.
  expect(isoTime(create(TimestampSchema, { seconds: 1796237718n, nanos: 783_629_000 }))).toBe('2026-12-02T18:55:18.783Z');
  expect(isoTime(create(TimestampSchema, { seconds: 1796237718n, nanos: 999_999_999 }))).toBe('2026-12-02T18:55:18.999Z');
  expect(isoTime(create(TimestampSchema, { seconds: 1796237718n, nanos: 0 }))).toBe('2026-12-02T18:55:18.000Z');
  expect(isoTime(undefined)).toBe('');
});
