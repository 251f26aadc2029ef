// Live notifications for the whole app: the tab's part of the shared
// WatchCallbacks stream, the toasts, and the unviewed counter.

import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { toast } from 'sonner';
import { useSession } from './session';
import { groupFilters, searchFromFilters } from './lib/filters';
import type { LiveEvent } from './lib/events';
import { navigate } from './lib/router';
import { TabCoordinator, type ConnState, type LockManagerLike, type Role } from './lib/tabs';
import { ToastGrouper, type ToastPlan } from './lib/toastGroups';
import { watchStream } from './lib/watch';

export interface Live {
  state: ConnState;
  role: Role;
  /** unviewed is the calling admin's unviewed count (more: over 99). */
  unviewed: { count: number; more: boolean } | null;
  /** subscribe calls listener with every event once; returns unsubscribe. */
  subscribe(listener: (ev: LiveEvent) => void): () => void;
}

const LiveContext = createContext<Live | null>(null);

export function useLive(): Live {
  const l = useContext(LiveContext);
  if (!l) throw new Error('useLive outside LiveProvider');
  return l;
}

/** useLiveEvents runs listener for each live event while mounted. */
export function useLiveEvents(listener: (ev: LiveEvent) => void): void {
  const { subscribe } = useLive();
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => subscribe((ev) => ref.current(ev)), [subscribe]);
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
      if (plan.kind === 'single') {
        const cb = plan.callback;
        toast('New LLM callback received', {
          id: plan.toastId,
          description: `${cb.eventType} · ${cb.workflowName || 'no workflow'} · job ${cb.jobId || '—'}`,
          action: { label: 'View details', onClick: () => openRef.current(cb.id) },
          duration: 10_000,
          onDismiss: done,
          onAutoClose: done,
        });
      } else {
        toast(`${plan.count} new callbacks`, {
          id: plan.toastId,
          description: 'Received in a burst. Show them in the history.',
          action: { label: 'Show them', onClick: () => navigate(`/${searchFromFilters(groupFilters(plan.from, plan.to))}`) },
          duration: 10_000,
          onDismiss: done,
          onAutoClose: done,
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
      },
      onState: (state, role) => setConn({ state, role }),
      onUnauthenticated: () => logout('Your session ended: the server did not accept the token (401). Log in again.'),
    });
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
    };
  }, [client, credential, logout]);

  return <LiveContext.Provider value={{ ...conn, unviewed, subscribe }}>{children}</LiveContext.Provider>;
}
