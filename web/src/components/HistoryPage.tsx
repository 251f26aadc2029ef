import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { useSession } from '../session';
import { useLive, useLiveChanges } from '../live';
import { errorMessage } from '../lib/api';
import { summarize, type CallbackSummary } from '../lib/events';
import { filtersFromSearch, pageRange, pageSizes, searchFromFilters, toListRequest, toMarkAllViewedRequest, type Filters } from '../lib/filters';
import { formatCount } from '../lib/format';
import { navigate } from '../lib/router';
import { historyHref } from '../lib/routes';
import { CallbackTable } from './CallbackTable';
import { FiltersForm } from './FiltersForm';
import { SendTestCallback } from './SendTestCallback';
import { EmptyState } from './EmptyState';
import { typing } from './keys';
import { useNow } from './Time';

interface Page {
  key: string;
  rows: CallbackSummary[];
  next: string;
  total: bigint;
  estimate: boolean;
}

/** HistoryPage lists callbacks, newest first, filtered and searched by the URL's query. */
export function HistoryPage({ search, open, onRows, current, developmentSecret }: { search: string; open(id: string): void; onRows(ids: string[]): void; current: string | null; developmentSecret: boolean }) {
  const { client } = useSession();
  const live = useLive();
  const filters = filtersFromSearch(search);
  const key = searchFromFilters(filters);
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState('');
  const now = useNow();
  const list = useRef<HTMLDivElement>(null);

  // The page shown is always the URL's: an answer for another page (a
  // reload scheduled before the reader turned the page) is dropped.
  const shown = useRef(key);
  shown.current = key;
  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const res = await client.listCallbacks({ ...toListRequest(filtersFromSearch(key)), includeTotalSize: true }, { signal });
        if (shown.current !== key) return;
        setPage({ key, rows: res.callbacks.map(summarize), next: res.nextPageToken, total: res.totalSize, estimate: res.totalSizeIsEstimate });
        setError('');
      } catch (e) {
        if (!signal?.aborted && shown.current === key) setError(errorMessage(e));
      }
    },
    [client, key],
  );

  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load]);
  // The rows j and k step through.
  useEffect(() => {
    onRows(page?.rows.map((r) => r.id) ?? []);
  }, [page, onRows]);

  // Back from a lost connection: what the page shows may be stale, or an
  // error from while the server was away. Reload.
  const wasLive = useRef(true);
  useEffect(() => {
    const isLive = live.state.status === 'live';
    if (isLive && !wasLive.current) void load();
    wasLive.current = isLive;
  }, [live.state.status, load]);

  // Live: the page reloads when a callback arrives or is viewed, one at a
  // time or many at once (Mark all as viewed, in any tab or by any admin:
  // the rows' unviewed marks change). Later pages stay put (their cursor
  // would shift under the reader).
  // A burst of events costs one reload, not one each.
  const [stale, setStale] = useState(false);
  const reload = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(reload.current), []);
  useLiveChanges(() => {
    if (filters.page === '') {
      clearTimeout(reload.current);
      reload.current = setTimeout(() => void load(), 200);
    } else {
      setStale(true);
    }
  });
  useEffect(() => {
    setStale(false);
    return () => clearTimeout(reload.current);
  }, [key]);

  const go = (f: Filters) => navigate(historyHref(searchFromFilters(f)));
  // A new page starts at its top, with focus on the list rather than on a
  // button that may be gone.
  const turn = (f: Filters) => {
    go(f);
    window.scrollTo(0, 0);
    list.current?.focus({ preventScroll: true });
  };
  const loading = page?.key !== key;
  const title = filters.unviewed ? 'Unviewed callbacks' : filters.q ? 'Search results' : 'Callback history';
  return (
    <section aria-labelledby="history-title" className="space-y-4">
      <div className="flex flex-wrap items-baseline gap-3">
        <h1 id="history-title" className="text-xl font-semibold">
          {title}
        </h1>
        <span className="sm:ml-auto">
          <SendTestCallback />
        </span>
        {stale && (
          <button type="button" className="btn-link text-sm" onClick={() => turn({ ...filters, page: '', start: 0 })}>
            New callbacks arrived — back to the newest
          </button>
        )}
      </div>
      <SearchBox filters={filters} onSearch={(q) => go({ ...filters, q, page: '', start: 0 })} />
      <FiltersForm filters={filters} onChange={(f) => go({ ...f, page: '', start: 0 })} />
      {error && (
        <p role="alert" className="alert">
          Could not load callbacks: {error}
        </p>
      )}
      <div className="flex flex-wrap items-center gap-x-4 gap-y-2 text-sm">
        <span data-testid="page-range" aria-live="polite">
          {page ? pageRange(filters.start, page.rows.length, page.total, page.estimate) : ' '}
        </span>
        <PageSize filters={filters} onChange={(size) => go({ ...filters, size, page: '', start: 0 })} />
        <MarkAllViewed filters={filters} total={page && !loading ? page : null} onDone={() => void load()} />
      </div>
      {page && !loading && page.rows.length === 0 && key === '' && <EmptyState developmentSecret={developmentSecret} />}
      <div ref={list} tabIndex={-1} aria-busy={loading} aria-label="Callbacks" data-testid="history-list" className={loading && page ? 'opacity-60 outline-none transition-opacity' : 'outline-none'}>
        <CallbackTable rows={page?.rows ?? []} loading={loading && !page} now={now} open={open} current={current} />
      </div>
      <nav aria-label="Pages" className="flex flex-wrap gap-2">
        {filters.page !== '' && (
          <button type="button" className="btn" onClick={() => turn({ ...filters, page: '', start: 0 })}>
            ⇤ Newest
          </button>
        )}
        {page?.next && (
          <button type="button" className="btn" onClick={() => turn({ ...filters, page: page.next, start: filters.start + page.rows.length })} data-testid="older">
            Older →
          </button>
        )}
      </nav>
    </section>
  );
}

/** SearchBox edits the search (the URL's q); "/" anywhere focuses it. */
function SearchBox({ filters, onSearch }: { filters: Filters; onSearch(q: string): void }) {
  const [draft, setDraft] = useState(filters.q);
  useEffect(() => setDraft(filters.q), [filters.q]);
  const input = useRef<HTMLInputElement>(null);
  const id = useId();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== '/' || e.defaultPrevented || typing(e) || document.querySelector('[role="dialog"][aria-modal="true"]')) return;
      e.preventDefault();
      input.current?.focus();
      input.current?.select();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSearch(draft.trim());
  };
  return (
    <form role="search" className="search" onSubmit={submit}>
      <label htmlFor={id} className="sr-only">
        Search callbacks
      </label>
      <input
        ref={input}
        id={id}
        type="search"
        className="input min-w-0 flex-1"
        placeholder='Search: words, "a phrase", prefix*   (press / to focus)'
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        aria-keyshortcuts="/"
        data-testid="search"
      />
      <button type="submit" className="btn-primary">
        Search
      </button>
      {filters.q && (
        <button type="button" className="btn" onClick={() => onSearch('')}>
          Clear search
        </button>
      )}
    </form>
  );
}

function PageSize({ filters, onChange }: { filters: Filters; onChange(size: number): void }) {
  const id = useId();
  return (
    <label htmlFor={id} className="flex items-center gap-1.5">
      <span className="muted">Per page</span>
      <select id={id} className="input py-0.5" value={filters.size} onChange={(e) => onChange(Number(e.target.value))} data-testid="page-size">
        {pageSizes.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}

/** MarkAllViewed marks every callback of the current filters and search viewed, after a confirmation. */
function MarkAllViewed({ filters, total, onDone }: { filters: Filters; total: Page | null; onDone(): void }) {
  const { client } = useSession();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState('');
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);
  useEffect(() => setStatus(''), [filters.q, filters.status, filters.event, filters.workflow, filters.job, filters.after, filters.before, filters.unviewed]);
  const run = async () => {
    setBusy(true);
    try {
      const res = await client.markAllViewed(toMarkAllViewedRequest(filters));
      setStatus(`Marked ${formatCount(res.marked)} callback${res.marked === 1n ? '' : 's'} viewed.`);
      onDone();
    } catch (e) {
      setStatus(`Could not mark them viewed: ${errorMessage(e)}`);
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  const count = total ? `${total.estimate ? 'about ' : ''}${formatCount(total.total)}` : 'all';
  return (
    <span className="flex flex-wrap items-center gap-2 sm:ml-auto">
      {asking ? (
        <span role="group" aria-label="Confirm marking all viewed" className="flex flex-wrap items-center gap-2" data-testid="mark-all-confirm">
          <span>Mark {count} matching callbacks viewed, on every page?</span>
          <button ref={confirm} type="button" className="btn-primary" disabled={busy} onClick={() => void run()}>
            Mark viewed
          </button>
          <button type="button" className="btn" disabled={busy} onClick={() => setAsking(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button type="button" className="btn" onClick={() => (setAsking(true), setStatus(''))}>
          Mark all as viewed
        </button>
      )}
      <span role="status" className="muted" data-testid="mark-all-status">
        {status}
      </span>
    </span>
  );
}
