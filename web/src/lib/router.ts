// A minimal history router: the path picks the page, the query string holds
// the history filters, and pushState keeps the back button meaningful.

import { useSyncExternalStore } from 'react';

const changed = 'callbackd:navigate';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(changed, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(changed, onChange);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

/** useLocation re-renders on every navigation. */
export function useLocation(): { path: string; search: string } {
  const href = useSyncExternalStore(subscribe, snapshot);
  const q = href.indexOf('?');
  return q < 0 ? { path: href, search: '' } : { path: href.slice(0, q), search: href.slice(q) };
}

/** navigate goes to an in-app URL (path and query), with an optional history state. */
export function navigate(to: string, replace = false, state: unknown = null): void {
  if (to === snapshot() && state === null) return;
  if (replace) window.history.replaceState(state, '', to);
  else window.history.pushState(state, '', to);
  window.dispatchEvent(new Event(changed));
}

/** callbackPath is the own URL of a callback. */
export function callbackPath(id: string): string {
  return `/callbacks/${encodeURIComponent(id)}`;
}

/** callbackIdOf is the id of a callback URL's path, or null for another page. */
export function callbackIdOf(path: string): string | null {
  const m = /^\/callbacks\/([^/]+)$/.exec(path);
  if (!m?.[1]) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

/** DetailState is the history state of a callback URL: the page behind it. */
export interface DetailState {
  /** background is the path and query of the page the callback was opened over. */
  background: string;
  /** inApp: the app pushed this entry, so closing may go back to the page. */
  inApp: boolean;
}

/** detailState reads a history state as a DetailState, or null. */
export function detailState(state: unknown): DetailState | null {
  if (typeof state !== 'object' || state === null) return null;
  const s = state as Record<string, unknown>;
  return typeof s.background === 'string' && s.background.startsWith('/') && !s.background.startsWith('//') ? { background: s.background, inApp: s.inApp === true } : null;
}

/** stepId is the id j (+1) or k (-1) moves to from current in a list: the first row when current is not in it. */
export function stepId(ids: readonly string[], current: string, by: 1 | -1): string | null {
  const i = ids.indexOf(current);
  if (i < 0) return ids[0] ?? null;
  return ids[i + by] ?? null;
}
