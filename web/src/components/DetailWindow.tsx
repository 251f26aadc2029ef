import { useCallback, useEffect, useId, useRef, useState, type KeyboardEvent as ReactKeyboardEvent, type PointerEvent as ReactPointerEvent } from 'react';
import { Rnd } from 'react-rnd';
import type { Callback } from '@callbackd/client';
import { useLiveChanges } from '../live';
import { useSession } from '../session';
import { errorMessage } from '../lib/api';
import { CallbackDetails } from './CallbackDetails';
import { usePhone } from './usePhone';
import { loadBox, loadDockWidth, saveBox, saveDockWidth, type Box, type DetailLayout } from '../lib/layout';

type Mode = 'normal' | 'maximised' | 'minimised';

const focusable = 'a[href], summary, button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * visible tells whether Tab can reach el. The content of a closed <details>
 * keeps its layout boxes (content-visibility: hidden), so offsetParent alone
 * would count its fields.
 */
function visible(el: HTMLElement): boolean {
  return typeof el.checkVisibility === 'function' ? el.checkVisibility() : el.offsetParent !== null;
}

function initialBox(): Box {
  return loadBox(window.localStorage, window.innerWidth, window.innerHeight);
}

/** useCallbackDetail loads a callback, marks it viewed and keeps its views current. */
function useCallbackDetail(id: string) {
  const { client } = useSession();
  const [callback, setCallback] = useState<Callback | null>(null);
  const [error, setError] = useState('');
  const load = useCallback(async () => {
    try {
      const res = await client.getCallback({ id });
      setCallback(res.callback ?? null);
    } catch (e) {
      setError(errorMessage(e));
    }
  }, [client, id]);
  useEffect(() => {
    let cancelled = false;
    void (async () => {
      await load();
      try {
        await client.markViewed({ id });
      } catch (e) {
        if (!cancelled) setError(`Could not mark as viewed: ${errorMessage(e)}`);
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [client, id, load]);
  useLiveChanges((ev) => {
    // A batch of views ("Mark all as viewed", in another tab or by another
    // admin) says how many, not which: it may hold this callback, so its
    // "Viewed by" is read again.
    if (ev.kind === 'viewed_many' || (ev.kind === 'viewed' && ev.view.callbackId === id) || (ev.kind !== 'viewed' && ev.callback.id === id)) void load();
  });
  return { callback, error };
}

/**
 * DetailWindow is a desktop-style window over the page: drag it by its
 * title bar, resize it from its edges, maximise or minimise it; Escape
 * closes it. While it is open (not minimised) the page behind is inert and
 * Tab cycles inside it; on phones it fills the screen.
 */
export function DetailWindow({ id, onClose, onModalChange, onLayout }: { id: string; onClose(): void; onModalChange(modal: boolean): void; onLayout(l: DetailLayout): void }) {
  const { callback, error } = useCallbackDetail(id);
  const [mode, setMode] = useState<Mode>('normal');
  const [box, setBox] = useState(initialBox);
  const phone = usePhone();
  const titleId = useId();
  const dialog = useRef<HTMLDivElement>(null);
  const modal = mode !== 'minimised';
  const full = phone || mode === 'maximised';

  useEffect(() => onModalChange(modal), [modal, onModalChange]);

  useEffect(() => {
    dialog.current?.querySelector<HTMLElement>('[data-autofocus]')?.focus();
  }, [mode]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !e.defaultPrevented) {
        e.preventDefault();
        onClose();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);

  const trapTab = (e: ReactKeyboardEvent) => {
    if (e.key !== 'Tab' || !modal || !dialog.current) return;
    const items = Array.from(dialog.current.querySelectorAll<HTMLElement>(focusable)).filter((el) => visible(el) || el === document.activeElement);
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };

  const title = callback ? `${callback.eventType} · ${callback.workflowName || 'callback'}` : 'Callback';
  const controls = (
    <div className="window-controls">
      <button type="button" className="window-btn" onClick={() => setMode(mode === 'minimised' ? 'normal' : 'minimised')} aria-label={mode === 'minimised' ? 'Restore' : 'Minimise'} data-autofocus={mode === 'minimised' ? true : undefined}>
        {mode === 'minimised' ? '▢' : '▁'}
      </button>
      {!phone && mode !== 'minimised' && (
        <button type="button" className="window-btn" onClick={() => onLayout('docked')} aria-label="Dock beside the list" title="Dock beside the list (j/k step through it)">
          ◧
        </button>
      )}
      {!phone && mode !== 'minimised' && (
        <button type="button" className="window-btn" onClick={() => setMode(mode === 'maximised' ? 'normal' : 'maximised')} aria-label={mode === 'maximised' ? 'Restore size' : 'Maximise'}>
          {mode === 'maximised' ? '❐' : '□'}
        </button>
      )}
      <button type="button" className="window-btn window-close" onClick={onClose} aria-label="Close" data-autofocus={mode !== 'minimised' ? true : undefined}>
        ✕
      </button>
    </div>
  );
  const titleBar = (
    <div className="window-titlebar" onDoubleClick={() => !phone && setMode(mode === 'maximised' ? 'normal' : 'maximised')}>
      <h2 id={titleId} className="window-title" title={title}>
        {title}
      </h2>
      {controls}
    </div>
  );

  if (mode === 'minimised') {
    return (
      <div ref={dialog} role="dialog" aria-modal="false" aria-labelledby={titleId} className="window window-minimised" data-testid="detail-window" data-mode={mode} onKeyDown={trapTab}>
        {titleBar}
      </div>
    );
  }

  const body = (
    <div ref={dialog} role="dialog" aria-modal="true" aria-labelledby={titleId} className="window" data-testid="detail-window" data-mode={full ? 'maximised' : mode} onKeyDown={trapTab}>
      {titleBar}
      <div className="window-body">
        {error && (
          <p role="alert" className="alert">
            {error}
          </p>
        )}
        {callback ? <CallbackDetails callback={callback} /> : !error && <p className="muted">Loading…</p>}
      </div>
    </div>
  );

  return (
    <div className="window-layer">
      <div className="window-backdrop" aria-hidden="true" />
      {full ? (
        <div className="window-full">{body}</div>
      ) : (
        <Rnd
          className="window-rnd"
          bounds="parent"
          dragHandleClassName="window-titlebar"
          // react-draggable's user-select hack injects a <style> element,
          // which the CSP blocks (and reports); the .dragging class below
          // does the same from the stylesheet.
          enableUserSelectHack={false}
          onDragStart={() => document.documentElement.classList.add('dragging')}
          cancel=".window-btn"
          minWidth={320}
          minHeight={220}
          position={{ x: box.x, y: box.y }}
          size={{ width: box.width, height: box.height }}
          onDragStop={(_e, d) => {
            document.documentElement.classList.remove('dragging');
            setBox((b) => remember({ ...b, x: d.x, y: d.y }));
          }}
          onResizeStop={(_e, _dir, ref, _delta, pos) => setBox(remember({ x: pos.x, y: pos.y, width: ref.offsetWidth, height: ref.offsetHeight }))}
        >
          {body}
        </Rnd>
      )}
    </div>
  );
}

/** remember keeps the window's position and size for the next one. */
function remember(b: Box): Box {
  saveBox(window.localStorage, b);
  return b;
}

/**
 * DetailDock shows a callback beside the list instead of over it: not
 * modal, so the list stays usable and j/k step through it. Its width is
 * dragged (or set with the arrow keys) on its left edge and remembered.
 */
export function DetailDock({ id, onClose, onLayout }: { id: string; onClose(): void; onLayout(l: DetailLayout): void }) {
  const { callback, error } = useCallbackDetail(id);
  const titleId = useId();
  const [width, setWidth] = useState(() => loadDockWidth(window.localStorage, window.innerWidth));
  const setAndSave = (w: number) => {
    const fitted = Math.min(Math.round(window.innerWidth * 0.7), Math.max(320, Math.round(w)));
    setWidth(fitted);
    saveDockWidth(window.localStorage, fitted);
  };
  const drag = (e: ReactPointerEvent<HTMLDivElement>) => {
    e.preventDefault();
    const startX = e.clientX;
    const startW = width;
    const el = e.currentTarget;
    el.setPointerCapture(e.pointerId);
    const move = (ev: PointerEvent) => setWidth(Math.min(Math.round(window.innerWidth * 0.7), Math.max(320, startW + startX - ev.clientX)));
    const up = (ev: PointerEvent) => {
      el.removeEventListener('pointermove', move);
      el.removeEventListener('pointerup', up);
      setAndSave(startW + startX - ev.clientX);
    };
    el.addEventListener('pointermove', move);
    el.addEventListener('pointerup', up);
  };
  const title = callback ? `${callback.eventType} · ${callback.workflowName || 'callback'}` : 'Callback';
  return (
    <aside className="dock" aria-labelledby={titleId} data-testid="detail-dock" data-id={id} style={{ width: `${width}px` }}>
      <div
        className="dock-handle"
        role="separator"
        aria-orientation="vertical"
        aria-label="Resize the detail view"
        aria-valuenow={width}
        aria-valuemin={320}
        tabIndex={0}
        onPointerDown={drag}
        onKeyDown={(e) => {
          if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
            e.preventDefault();
            setAndSave(width + (e.key === 'ArrowLeft' ? 40 : -40));
          }
        }}
        data-testid="dock-handle"
      />
      <div className="dock-inner">
        <div className="window-titlebar dock-titlebar">
          <h2 id={titleId} className="window-title" title={title}>
            {title}
          </h2>
          <div className="window-controls">
            <button type="button" className="window-btn" onClick={() => onLayout('window')} aria-label="Open as a window" title="Open as a window over the page">
              ❐
            </button>
            <button type="button" className="window-btn window-close" onClick={onClose} aria-label="Close">
              ✕
            </button>
          </div>
        </div>
        <div className="window-body">
          {error && (
            <p role="alert" className="alert">
              {error}
            </p>
          )}
          {callback ? <CallbackDetails callback={callback} /> : !error && <p className="muted">Loading…</p>}
        </div>
      </div>
    </aside>
  );
}
