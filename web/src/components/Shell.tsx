import { lazy, Suspense, useCallback, useEffect, useRef, useState } from 'react';
import { LiveProvider, useLive } from '../live';
import { useSession } from '../session';
import { callbackIdOf, callbackPath, detailState, navigate, stepId, useLocation } from '../lib/router';
import { searchFromFilters, emptyFilters } from '../lib/filters';
import { historyHref, historyPath, movedTo } from '../lib/routes';
import { loadLayout, saveLayout, type DetailLayout } from '../lib/layout';
import { ConnectionIndicator } from './ConnectionIndicator';
import { NotifyToggle } from './NotifyToggle';
import { DetailDock, DetailWindow } from './DetailWindow';
import { HistoryPage } from './HistoryPage';
import { RejectedPage } from './RejectedPage';
import { TimelinePage } from './TimelinePage';
import { ThemeToggle, type ThemeState } from './ThemeToggle';
import { AlertsPage } from './AlertsPage';
import { BuildFooter, DevelopmentSecretBanner, useServerInfo } from './ServerWarnings';
import { usePhone } from './usePhone';
import { typing } from './keys';
import { Shortcuts } from './Shortcuts';

// The dashboard and its chart library load when first opened.
const DashboardPage = lazy(() => import('./DashboardPage'));

/**
 * Shell is the logged-in app: navigation, the page, and the detail view.
 * The dashboard is the home (/), the history is at /callbacks. A callback
 * has its own URL (/callbacks/<id>); the page behind it is the one it was
 * opened over (the history state), or the history for a link.
 */
export function Shell({ theme }: { theme: ThemeState }) {
  const { path, search } = useLocation();
  // An address that moved (the history's old /?status=…, /dashboard) is
  // replaced by its new one before anything loads.
  const moved = movedTo(path, search);
  useEffect(() => {
    if (moved) navigate(moved, true, window.history.state);
  }, [moved]);
  const openId = callbackIdOf(path);
  const state = detailState(window.history.state);
  const background = openId ? (state?.background ?? historyHref(search)) : path + search;
  const [layout, setLayout] = useState<DetailLayout>(() => loadLayout(window.localStorage));
  const phone = usePhone();
  const docked = layout === 'docked' && !phone;
  // modal: the window is open and not minimised, so the page behind is inert.
  const [modal, setModal] = useState(false);
  const rows = useRef<string[]>([]);
  const onRows = useCallback((ids: string[]) => {
    rows.current = ids;
  }, []);
  const returnFocus = useRef<HTMLElement | null>(null);

  const open = useCallback((id: string) => {
    if (!returnFocus.current || !document.contains(returnFocus.current)) {
      returnFocus.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    }
    const here = window.location.pathname + window.location.search;
    const current = callbackIdOf(window.location.pathname);
    const bg = current ? (detailState(window.history.state)?.background ?? historyPath) : here;
    const q = bg.indexOf('?');
    // Stepping from one callback to another replaces the entry: Back
    // returns to the page, not through every callback seen. A callback
    // opened over a filtered history keeps the filters in its URL, so that
    // a reload or a link shows the same list behind it.
    navigate(callbackPath(id) + (q >= 0 && bg.startsWith(`${historyPath}?`) ? bg.slice(q) : ''), current !== null, { background: bg, inApp: true });
  }, []);
  const close = useCallback(() => {
    setModal(false);
    const s = detailState(window.history.state);
    if (s?.inApp) window.history.back();
    else navigate(s?.background ?? historyHref(window.location.search), true);
    const el = returnFocus.current;
    returnFocus.current = null;
    // The element that opened the view gets focus back (a toast's button
    // may be gone by now: then the main region does).
    setTimeout(() => {
      if (el && document.contains(el)) el.focus();
      else document.getElementById('main')?.focus();
    }, 50);
  }, []);
  const changeLayout = useCallback((l: DetailLayout) => {
    saveLayout(window.localStorage, l);
    setLayout(l);
    if (l === 'docked') setModal(false);
  }, []);
  useEffect(() => {
    if (!openId) setModal(false);
  }, [openId]);

  // j/k step through the list shown; Escape closes a docked view (the
  // window handles its own).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!openId || typing(e) || e.defaultPrevented) return;
      if (e.key === 'j' || e.key === 'k') {
        const next = stepId(rows.current, openId, e.key === 'j' ? 1 : -1);
        if (next) {
          e.preventDefault();
          open(next);
        }
      } else if (e.key === 'Escape' && docked) {
        e.preventDefault();
        close();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [openId, docked, open, close]);

  const info = useServerInfo();
  return (
    <LiveProvider openDetail={open}>
      <div id="app" inert={modal && !docked} data-server-info={info ? 'loaded' : 'pending'}>
        <a
          href="#main"
          className="skip-link"
          onClick={(e) => {
            e.preventDefault();
            document.getElementById('main')?.focus();
          }}
        >
          Skip to content
        </a>
        <DevelopmentSecretBanner info={info} />
        <Header theme={theme} />
        <div className={openId && docked ? 'with-dock' : undefined}>
          {!moved && <Page location={background} open={open} onRows={onRows} current={openId} developmentSecret={info?.developmentSecret ?? false} />}
          {openId && docked && <DetailDock key={openId} id={openId} onClose={close} onLayout={changeLayout} />}
        </div>
        <BuildFooter info={info} />
      </div>
      <Shortcuts />
      {openId && !docked && <DetailWindow key={openId} id={openId} onClose={close} onModalChange={setModal} onLayout={changeLayout} />}
    </LiveProvider>
  );
}

function Header({ theme }: { theme: ThemeState }) {
  const { logout } = useSession();
  const live = useLive();
  const { path, search } = useLocation();
  const badge = live.unviewed && live.unviewed.count > 0 ? `${live.unviewed.count}${live.unviewed.more ? '+' : ''}` : null;
  const unviewedSearch = searchFromFilters({ ...emptyFilters, unviewed: true });
  const unviewedHref = historyHref(unviewedSearch);
  return (
    <header className="header">
      <nav aria-label="Main" className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-3 gap-y-2 px-3 py-2 sm:px-6">
        <a href="/" className="brand" onClick={(e) => (e.preventDefault(), navigate('/'))}>
          callbackd
        </a>
        <a href="/" className="nav-link" aria-current={path === '/' ? 'page' : undefined} onClick={(e) => (e.preventDefault(), navigate('/'))}>
          Dashboard
        </a>
        <a
          href={historyPath}
          className="nav-link"
          aria-current={path === historyPath && search === '' ? 'page' : undefined}
          onClick={(e) => (e.preventDefault(), navigate(historyPath))}
        >
          History
        </a>
        <a
          href={unviewedHref}
          className="nav-link"
          data-testid="unviewed-link"
          aria-current={path === historyPath && search === unviewedSearch ? 'page' : undefined}
          onClick={(e) => (e.preventDefault(), navigate(unviewedHref))}
        >
          Unviewed
          {badge && (
            <span className="nav-badge" data-testid="unviewed-badge" aria-label={`${badge} unviewed`}>
              {badge}
            </span>
          )}
        </a>
        <a
          href="/rejected"
          className="nav-link"
          aria-current={path === '/rejected' ? 'page' : undefined}
          onClick={(e) => (e.preventDefault(), navigate('/rejected'))}
        >
          Rejected
        </a>
        <a href="/alerts" className="nav-link" aria-current={path === '/alerts' ? 'page' : undefined} onClick={(e) => (e.preventDefault(), navigate('/alerts'))}>
          Alerts
        </a>
        <span className="ml-auto flex items-center gap-2">
          <ConnectionIndicator state={live.state} role={live.role} onReconnectNow={live.reconnectNow} />
          <NotifyToggle />
          <ThemeToggle theme={theme} />
          <button type="button" className="btn-ghost" onClick={() => logout()}>
            Log out
          </button>
        </span>
      </nav>
    </header>
  );
}

function Page({ location, open, onRows, current, developmentSecret }: { location: string; open(id: string): void; onRows(ids: string[]): void; current: string | null; developmentSecret: boolean }) {
  const q = location.indexOf('?');
  const path = q < 0 ? location : location.slice(0, q);
  const search = q < 0 ? '' : location.slice(q);
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  return (
    <main id="main" tabIndex={-1} className="mx-auto min-w-0 max-w-7xl flex-1 px-3 py-4 outline-none sm:px-6">
      {job?.[1] ? (
        <TimelinePage jobId={decodeURIComponent(job[1])} open={open} />
      ) : path === '/rejected' ? (
        <RejectedPage />
      ) : path === '/alerts' ? (
        <AlertsPage />
      ) : path === '/' ? (
        <Suspense fallback={<p className="muted">Loading…</p>}>
          <DashboardPage search={search} developmentSecret={developmentSecret} />
        </Suspense>
      ) : (
        <HistoryPage search={search} open={open} onRows={onRows} current={current} developmentSecret={developmentSecret} />
      )}
    </main>
  );
}
