// The console's pages by path. The dashboard is the home (/); the history
// has its own path (/callbacks), and the addresses it had before keep
// working: links in alert messages, bookmarks and shared views.

import { queryFromSearch, searchFromQuery } from './stats';

/** historyPath is the history's path. */
export const historyPath = '/callbacks';

/** historyHref is the history's address with a query string ("" or "?…"). */
export function historyHref(search: string): string {
  return historyPath + search;
}

/** dashboardHref is the dashboard's address with a query string ("" or "?…"). */
export function dashboardHref(search: string): string {
  return `/${search}`;
}

/**
 * movedTo is where an address that moved now lives, or null for a current
 * one. The history lived at /: a query there without the dashboard's range
 * (which the dashboard always writes beside any other parameter, see
 * searchFromQuery) is a history view. The dashboard lived at /dashboard.
 */
export function movedTo(path: string, search: string): string | null {
  if (path === '/' && search !== '' && search !== '?') {
    return new URLSearchParams(search).has('range') ? null : historyHref(search);
  }
  if (path === '/dashboard' || path === '/dashboard/') return dashboardHref(searchFromQuery(queryFromSearch(search)));
  if (path === `${historyPath}/`) return historyHref(search);
  return null;
}
