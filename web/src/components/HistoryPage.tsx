import { useCallback, useEffect, useRef, useState } from 'react';
import { useSession } from '../session';
import { useLiveEvents } from '../live';
import { errorMessage } from '../lib/api';
import { summarize, type CallbackSummary } from '../lib/events';
import { filtersFromSearch, searchFromFilters, toListRequest, type Filters } from '../lib/filters';
import { navigate } from '../lib/router';
import { CallbackTable } from './CallbackTable';
import { FiltersForm } from './FiltersForm';
import { SendTestCallback } from './SendTestCallback';

/** HistoryPage lists callbacks, newest first, filtered by the URL's query. */
export function HistoryPage({ search, open }: { search: string; open(id: string): void }) {
  const { client } = useSession();
  const filters = filtersFromSearch(search);
  const key = searchFromFilters(filters);
  const [page, setPage] = useState<{ key: string; rows: CallbackSummary[]; next: string } | null>(null);
  const [error, setError] = useState('');

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const res = await client.listCallbacks(toListRequest(filtersFromSearch(key)), { signal });
        setPage({ key, rows: res.callbacks.map(summarize), next: res.nextPageToken });
        setError('');
      } catch (e) {
        if (!signal?.aborted) setError(errorMessage(e));
      }
    },
    [client, key],
  );

  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load]);

  // Live: the page reloads when a callback arrives or is viewed. Later pages
  // stay put (their cursor would shift under the reader).
  // A burst of events costs one reload, not one each.
  const [stale, setStale] = useState(false);
  const reload = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(reload.current), []);
  useLiveEvents(() => {
    if (filters.page === '') {
      clearTimeout(reload.current);
      reload.current = setTimeout(() => void load(), 200);
    } else {
      setStale(true);
    }
  });
  useEffect(() => setStale(false), [key]);

  const go = (f: Filters) => navigate(`/${searchFromFilters(f)}`);
  const loading = page?.key !== key;
  return (
    <section aria-labelledby="history-title" className="space-y-4">
      <div className="flex flex-wrap items-baseline gap-3">
        <h1 id="history-title" className="text-xl font-semibold">
          {filters.unviewed ? 'Unviewed callbacks' : 'Callback history'}
        </h1>
        <span className="sm:ml-auto">
          <SendTestCallback />
        </span>
        {stale && (
          <button type="button" className="btn-link text-sm" onClick={() => go({ ...filters, page: '' })}>
            New callbacks arrived — back to the newest
          </button>
        )}
      </div>
      <FiltersForm filters={filters} onChange={(f) => go({ ...f, page: '' })} />
      {error && (
        <p role="alert" className="alert">
          Could not load callbacks: {error}
        </p>
      )}
      <div aria-busy={loading} className={loading && page ? "opacity-60 transition-opacity" : undefined}>
        <CallbackTable rows={page?.rows ?? []} loading={loading && !page} open={open} />
      </div>
      <nav aria-label="Pages" className="flex flex-wrap gap-2">
        {filters.page !== '' && (
          <button type="button" className="btn" onClick={() => go({ ...filters, page: '' })}>
            ⇤ Newest
          </button>
        )}
        {page?.next && (
          <button type="button" className="btn" onClick={() => go({ ...filters, page: page.next })} data-testid="older">
            Older →
          </button>
        )}
      </nav>
    </section>
  );
}
