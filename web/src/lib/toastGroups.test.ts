import { expect, test } from 'vitest';
import { CallbackStatus } from '@callbackd/client';
import type { CallbackSummary } from './events';
import { groupTitle, ToastGrouper } from './toastGroups';

function cb(id: string, createTime: string): CallbackSummary {
  return { id, callbackId: id, eventType: 'workflow.completed', workflowName: 'w', jobId: 'j', stepId: '', knownEvent: true, status: CallbackStatus.PROCESSED, errorMessage: '', createTime, deliveryCount: 1, preview: '', viewedByMe: false };
}

function failure(id: string, createTime: string): CallbackSummary {
  return { ...cb(id, createTime), eventType: 'workflow.failed', status: CallbackStatus.ERROR, errorMessage: 'boom' };
}

test('the first callback toasts on its own at once', () => {
  const g = new ToastGrouper(4000);
  const plan = g.add(cb('a', '2025-01-01T00:00:00.000Z'), 0);
  expect(plan).toMatchObject({ kind: 'single', callback: { id: 'a' }, failed: false });
});

test('a burst becomes one group toast with a count and a time range', () => {
  const g = new ToastGrouper(4000);
  const first = g.add(cb('a', '2025-01-01T00:00:01.000Z'), 0)!;
  let last = first;
  for (let i = 1; i < 12; i++) {
    last = g.add(cb(`id${i}`, `2025-01-01T00:00:${String(1 + i).padStart(2, '0')}.000Z`), i * 10)!;
  }
  expect(last).toEqual({ toastId: first.toastId, kind: 'group', count: 12, failed: 0, from: '2025-01-01T00:00:01.000Z', to: '2025-01-01T00:00:12.000Z' });
});

test('the same callback is not counted twice', () => {
  const g = new ToastGrouper(4000);
  g.add(cb('a', 't1'), 0);
  expect(g.add(cb('a', 't1'), 1)).toBeNull();
});

test('after a quiet period, or a dismissed toast, a new toast starts', () => {
  const g = new ToastGrouper(4000);
  const a = g.add(cb('a', 't1'), 0)!;
  const b = g.add(cb('b', 't2'), 5000)!;
  expect(b.kind).toBe('single');
  expect(b.toastId).not.toBe(a.toastId);
  g.dismissed(b.toastId);
  const c = g.add(cb('c', 't3'), 5001)!;
  expect(c.kind).toBe('single');
  expect(c.toastId).not.toBe(b.toastId);
});

test('a failure toasts as one, and a burst counts its failures', () => {
  const g = new ToastGrouper(4000);
  expect(g.add(failure('f1', 't1'), 0)).toMatchObject({ kind: 'single', failed: true });
  g.add(cb('a', 't2'), 10);
  const last = g.add(failure('f2', 't3'), 20)!;
  expect(last).toMatchObject({ kind: 'group', count: 3, failed: 2 });
  // A redelivered failure is not counted again.
  expect(g.add(failure('f2', 't3'), 30)).toBeNull();
});

test('group titles say what they hold', () => {
  expect(groupTitle(17, 3)).toBe('17 new callbacks · 3 failed');
  expect(groupTitle(2, 0)).toBe('2 new callbacks');
  expect(groupTitle(1284, 1)).toBe('1,284 new callbacks · 1 failed');
});
