import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { CallbackEventSchema, CallbackViewBatchSchema } from '@callbackd/client';
import { expect, test } from 'vitest';
import { aboutOneCallback, toLiveEvent } from './events';

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
