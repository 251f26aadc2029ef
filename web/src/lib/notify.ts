// Desktop notifications of failures: opt-in per browser (localStorage), shown
// only while the page is hidden (a visible tab has its toast), and only by
// the tab that would toast, so that one browser notifies once.

import { isFailure, type LiveEvent } from './events';

/** notifyKey is the localStorage key of the opt-in, shared by the browser's tabs. */
export const notifyKey = 'callbackd.notify-failures';

/** StorageLike is the part of Storage the opt-in uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function notifyOptedIn(s: StorageLike): boolean {
  return s.getItem(notifyKey) === '1';
}

export function setNotifyOptIn(s: StorageLike, on: boolean): void {
  if (on) s.setItem(notifyKey, '1');
  else s.removeItem(notifyKey);
}

/** NotifyContext is what decides whether an event becomes a desktop notification. */
export interface NotifyContext {
  optedIn: boolean;
  permission: 'default' | 'denied' | 'granted';
  hidden: boolean;
  /** toastHere: this tab is the browser's one toaster for the event. */
  toastHere: boolean;
}

/** shouldNotify: a newly received failure, opted in and allowed, in the toasting tab, while hidden. */
export function shouldNotify(ev: LiveEvent, c: NotifyContext): boolean {
  return ev.kind === 'received' && isFailure(ev.callback) && c.optedIn && c.permission === 'granted' && c.hidden && c.toastHere;
}

/** failureNotification is the text of a failure's notification; tag folds repeats of one callback. */
export function failureNotification(ev: LiveEvent & { kind: 'received' | 'redelivered' }): { title: string; body: string; tag: string } {
  const cb = ev.callback;
  return {
    title: `Callback failed: ${cb.workflowName || 'no workflow'}`,
    body: `${cb.errorMessage || 'No error message.'}\n${cb.eventType} · job ${cb.jobId || '—'}`,
    tag: `callbackd-${cb.id}`,
  };
}
