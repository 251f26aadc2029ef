import { expect, test } from 'vitest';
import { CallbackStatus } from '@callbackd/client';
import type { LiveEvent } from './events';
import { failureNotification, notifyOptedIn, setNotifyOptIn, shouldNotify, type NotifyContext } from './notify';

function received(status: CallbackStatus, eventType: string): LiveEvent & { kind: 'received' } {
  return {
    cursor: 'c1',
    kind: 'received',
    callback: { id: 'id-1', callbackId: 'k', eventType, workflowName: 'translate', jobId: 'job-1', stepId: '', knownEvent: true, status, errorMessage: 'LLM provider timed out', createTime: '', deliveryCount: 1, preview: '', viewedByMe: false },
  };
}

const yes: NotifyContext = { optedIn: true, permission: 'granted', hidden: true, toastHere: true };

test('a failure notifies only when opted in, allowed, hidden and in the toasting tab', () => {
  const ev = received(CallbackStatus.ERROR, 'workflow.failed');
  expect(shouldNotify(ev, yes)).toBe(true);
  expect(shouldNotify(ev, { ...yes, optedIn: false })).toBe(false);
  expect(shouldNotify(ev, { ...yes, permission: 'default' })).toBe(false);
  expect(shouldNotify(ev, { ...yes, hidden: false })).toBe(false);
  expect(shouldNotify(ev, { ...yes, toastHere: false })).toBe(false);
});

test('successes and redeliveries never notify', () => {
  expect(shouldNotify(received(CallbackStatus.PROCESSED, 'workflow.completed'), yes)).toBe(false);
  expect(shouldNotify({ ...received(CallbackStatus.ERROR, 'workflow.failed'), kind: 'redelivered' }, yes)).toBe(false);
});

test('the notification names the workflow, the error and the job', () => {
  const n = failureNotification(received(CallbackStatus.ERROR, 'workflow.failed'));
  expect(n.title).toBe('Callback failed: translate');
  expect(n.body).toContain('LLM provider timed out');
  expect(n.body).toContain('job job-1');
  expect(n.tag).toBe('callbackd-id-1');
});

test('the opt-in is kept in storage', () => {
  const m = new Map<string, string>();
  const s = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
  expect(notifyOptedIn(s)).toBe(false);
  setNotifyOptIn(s, true);
  expect(notifyOptedIn(s)).toBe(true);
  setNotifyOptIn(s, false);
  expect(notifyOptedIn(s)).toBe(false);
});
