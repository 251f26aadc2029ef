import { useCallback, useRef, useState } from 'react';
import { LiveProvider, useLive } from '../live';
import { useSession } from '../session';
import { navigate, useLocation } from '../lib/router';
import { searchFromFilters, emptyFilters } from '../lib/filters';
import { ConnectionIndicator } from './ConnectionIndicator';
import { NotifyToggle } from './NotifyToggle';
import { DetailWindow } from './DetailWindow';
import { HistoryPage } from './HistoryPage';
import { RejectedPage } from './RejectedPage';
import { TimelinePage } from './TimelinePage';
import { ThemeToggle, type ThemeState } from './ThemeToggle';
import { BuildFooter, DevelopmentSecretBanner, useServerInfo } from './ServerWarnings';

/** Shell is the logged-in app: navigation, the page, and the detail window. */
export function Shell({ theme }: { theme: ThemeState }) {
  const [openId, setOpenId] = useState<string | null>(null);
  // modal: the window is open and not minimised, so the page behind is inert.
  const [modal, setModal] = useState(false);
  const returnFocus = useRef<HTMLElement | null>(null);
  const open = useCallback((id: string) => {
    if (!returnFocus.current || !document.contains(returnFocus.current)) {
      returnFocus.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    }
    setOpenId(id);
  }, []);
  const close = useCallback(() => {
    setOpenId(null);
    setModal(false);
    const el = returnFocus.current;
    returnFocus.current = null;
    // The element that opened the window gets focus back (a toast's button
    // may be gone by now: then the main region does).
    requestAnimationFrame(() => {
      if (el && document.contains(el)) el.focus();
      else document.getElementById('main')?.focus();
    });
  }, []);
  const info = useServerInfo();

  return (
    <LiveProvider openDetail={open}>
      <div id="app" inert={modal} data-server-info={info ? 'loaded' : 'pending'}>
        <DevelopmentSecretBanner info={info} />
        <Header theme={theme} />
        <Page open={open} />
        <BuildFooter info={info} />
      </div>
      {openId && <DetailWindow key={openId} id={openId} onClose={close} onModalChange={setModal} />}
    </LiveProvider>
  );
}

function Header({ theme }: { theme: ThemeState }) {
  const { logout } = useSession();
  const live = useLive();
  const { path, search } = useLocation();
  const badge = live.unviewed && live.unviewed.count > 0 ? `${live.unviewed.count}${live.unviewed.more ? '+' : ''}` : null;
  const unviewedHref = `/${searchFromFilters({ ...emptyFilters, unviewed: true })}`;
  return (
    <header className="header">
      <nav aria-label="Main" className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-3 gap-y-2 px-3 py-2 sm:px-6">
        <a href="/" className="brand" onClick={(e) => (e.preventDefault(), navigate('/'))}>
          callbackd
        </a>
        <a
          href="/"
          className="nav-link"
          aria-current={path === '/' && search === '' ? 'page' : undefined}
          onClick={(e) => (e.preventDefault(), navigate('/'))}
        >
          History
        </a>
        <a
          href={unviewedHref}
          className="nav-link"
          data-testid="unviewed-link"
          aria-current={path === '/' && search === unviewedHref.slice(1) ? 'page' : undefined}
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
        <span className="ml-auto flex items-center gap-2">
          <ConnectionIndicator state={live.state} role={live.role} />
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

function Page({ open }: { open(id: string): void }) {
  const { path, search } = useLocation();
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  return (
    <main id="main" tabIndex={-1} className="mx-auto max-w-7xl px-3 py-4 outline-none sm:px-6">
      {job?.[1] ? (
        <TimelinePage jobId={decodeURIComponent(job[1])} open={open} />
      ) : path === '/rejected' ? (
        <RejectedPage />
      ) : (
        <HistoryPage search={search} open={open} />
      )}
    </main>
  );
}
