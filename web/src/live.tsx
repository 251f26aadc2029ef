// Live notifications for the whole app: the tab's part of the shared
// WatchCallbacks stream, the toasts, and the unviewed counter.

import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { toast } from 'sonner';
import { useSession } from './session';
import { groupFilters, searchFromFilters } from './lib/filters';
import { aboutOneCallback, type CallbackLiveEvent, type LiveEvent } from './lib/events';
import { navigate } from './lib/router';
import { historyHref } from './lib/routes';
import { TabCoordinator, type ConnState, type LockManagerLike, type Role } from './lib/tabs';
import { groupTitle, ToastGrouper, type ToastPlan } from './lib/toastGroups';
import { failureNotification, notifyOptedIn, shouldNotify, type NotifyContext } from './lib/notify';
import { watchStream } from './lib/watch';

export interface Live {
  state: ConnState;
  role: Role;
  /** unviewed is the calling admin's unviewed count (more: over 99). */
  unviewed: { count: number; more: boolean } | null;
  /** subscribe calls listener with every event once, batches of views included; returns unsubscribe. */
  subscribe(listener: (ev: LiveEvent) => void): () => void;
  /** reconnectNow ends the wait before the next attempt to reconnect. */
  reconnectNow(): void;
}

const LiveContext = createContext<Live | null>(null);

export function useLive(): Live {
  const l = useContext(LiveContext);
  if (!l) throw new Error('useLive outside LiveProvider');
  return l;
}

/**
 * useLiveEvents runs listener for each live event about one callback while
 * mounted (a view of one callback included, a batch of views not: see
 * useLiveChanges).
 */
export function useLiveEvents(listener: (ev: CallbackLiveEvent) => void): void {
  const { subscribe } = useLive();
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => subscribe((ev) => aboutOneCallback(ev) && ref.current(ev)), [subscribe]);
}

/**
 * useLiveChanges runs listener for every live event while mounted, a
 * batch of views (another tab's or admin's "Mark all as viewed") included:
 * for lists, whose unviewed marks it changes.
 */
export function useLiveChanges(listener: (ev: LiveEvent) => void): void {
  const { subscribe } = useLive();
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => subscribe((ev) => ref.current(ev)), [subscribe]);
}

/** notifyContext reads, at the moment of an event, whether a desktop notification may be shown. */
function notifyContext(toastHere: boolean): NotifyContext {
  const supported = typeof Notification !== 'undefined';
  return {
    optedIn: supported && notifyOptedIn(window.localStorage),
    permission: supported ? Notification.permission : 'denied',
    hidden: document.visibilityState === 'hidden',
    toastHere,
  };
}

function newTabId(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

function locks(): LockManagerLike | null {
  // Web Locks exist only in secure contexts (HTTPS or loopback).
  return typeof navigator !== 'undefined' && navigator.locks ? (navigator.locks as unknown as LockManagerLike) : null;
}

export function LiveProvider({ openDetail, children }: { openDetail(id: string): void; children: ReactNode }) {
  const { client, credential, logout } = useSession();
  const [conn, setConn] = useState<{ state: ConnState; role: Role }>({ state: { status: 'connecting' }, role: 'follower' });
  const [unviewed, setUnviewed] = useState<Live['unviewed']>(null);
  const listeners = useRef(new Set<(ev: LiveEvent) => void>());
  const [subscribe] = useState(() => (l: (ev: LiveEvent) => void) => {
    listeners.current.add(l);
    return () => listeners.current.delete(l);
  });
  const coordinatorRef = useRef<TabCoordinator | null>(null);
  const [reconnectNow] = useState(() => () => coordinatorRef.current?.reconnectNow());
  const openRef = useRef(openDetail);
  openRef.current = openDetail;

  // The unviewed counter: recounted (debounced) after every event, since
  // views by this admin in any tab arrive as "viewed" events.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const count = async () => {
      try {
        const res = await client.listCallbacks({ unviewedOnly: true, pageSize: 100 });
        if (!stopped) setUnviewed({ count: res.callbacks.length, more: res.nextPageToken !== '' });
      } catch {
        // The counter is a hint; the next event retries.
      }
    };
    void count();
    const unsubscribe = subscribe(() => {
      clearTimeout(timer);
      timer = setTimeout(() => void count(), 300);
    });
    return () => {
      stopped = true;
      clearTimeout(timer);
      unsubscribe();
    };
  }, [client, subscribe]);

  useEffect(() => {
    const grouper = new ToastGrouper();
    const show = (plan: ToastPlan) => {
      const done = () => grouper.dismissed(plan.toastId);
      // A failure stays until the admin dismisses it, in red; news of
      // success fades after ten seconds.
      const common = { id: plan.toastId, onDismiss: done, onAutoClose: done };
      if (plan.kind === 'single') {
        const cb = plan.callback;
        const where = `${cb.eventType} · ${cb.workflowName || 'no workflow'} · job ${cb.jobId || '—'}`;
        const action = { label: 'View details', onClick: () => openRef.current(cb.id) };
        if (plan.failed) {
          toast.error('LLM callback failed', {
            ...common,
            description: `${cb.errorMessage || 'No error message.'} — ${where}`,
            action,
            duration: Infinity,
            className: 'cbd-toast-failure',
          });
        } else {
          toast('New LLM callback received', { ...common, description: where, action, duration: 10_000 });
        }
      } else {
        const range = groupFilters(plan.from, plan.to);
        toast(groupTitle(plan.count, plan.failed), {
          ...common,
          description: plan.failed > 0 ? 'Received in a burst, with failures.' : 'Received in a burst. Show them in the history.',
          action:
            plan.failed > 0
              ? { label: 'Show failures', onClick: () => navigate(historyHref(searchFromFilters({ ...range, status: 'error' }))) }
              : { label: 'Show them', onClick: () => navigate(historyHref(searchFromFilters(range))) },
          cancel: plan.failed > 0 ? { label: 'Show all', onClick: () => navigate(historyHref(searchFromFilters(range))) } : undefined,
          duration: plan.failed > 0 ? Infinity : 10_000,
          className: plan.failed > 0 ? 'cbd-toast-failure' : undefined,
        });
      }
    };
    const channel = typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel(`callbackd-live-${credential}`) : null;
    const coordinator = new TabCoordinator({
      tabId: newTabId(),
      lockName: `callbackd-watch-${credential}`,
      locks: locks(),
      channel,
      startStream: watchStream(client),
      onEvent: (ev, toastHere) => {
        for (const l of listeners.current) l(ev);
        // A redelivery updates lists but is not news.
        if (toastHere && ev.kind === 'received') {
          const plan = grouper.add(ev.callback, Date.now());
          if (plan) show(plan);
        }
        if (ev.kind === 'received' && shouldNotify(ev, notifyContext(toastHere))) {
          const text = failureNotification(ev);
          const n = new Notification(text.title, { body: text.body, tag: text.tag });
          const id = ev.callback.id;
          n.onclick = () => {
            window.focus();
            openRef.current(id);
            n.close();
          };
        }
      },
      onState: (state, role) => setConn({ state, role }),
      onUnauthenticated: () => logout('Your session ended: the server did not accept the token (401). Log in again.'),
    });
    coordinatorRef.current = coordinator;
    coordinator.start(document.visibilityState === 'visible');
    const onVisible = () => {
      if (document.visibilityState === 'visible') coordinator.focused();
    };
    const onPageHide = () => coordinator.stop();
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', onVisible);
    window.addEventListener('pagehide', onPageHide);
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', onVisible);
      window.removeEventListener('pagehide', onPageHide);
      coordinator.stop();
      coordinatorRef.current = null;
    };
  }, [client, credential, logout]);

  return <LiveContext.Provider value={{ ...conn, unviewed, subscribe, reconnectNow }}>{children}</LiveContext.Provider>;
}
