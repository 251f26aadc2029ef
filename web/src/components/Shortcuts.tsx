import { useEffect, useRef, useState } from 'react';
import { typing } from './keys';

/** shortcuts are the console's keys, as the overlay lists them. */
export const shortcuts: Array<[string, string]> = [
  ['/', 'Focus the search box (history)'],
  ['j', 'Next callback in the list (detail view open)'],
  ['k', 'Previous callback in the list (detail view open)'],
  ['Esc', 'Close the detail view or this overlay'],
  ['?', 'Show these shortcuts'],
];

/**
 * Shortcuts is the "?" overlay: a native modal <dialog>, which keeps focus
 * inside and closes on Escape by itself.
 */
export function Shortcuts() {
  const [open, setOpen] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== '?' || e.defaultPrevented || typing(e) || document.querySelector('[role="dialog"][aria-modal="true"]')) return;
      e.preventDefault();
      setOpen(true);
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={dialog} className="shortcuts" aria-labelledby="shortcuts-title" onClose={() => setOpen(false)} data-testid="shortcuts">
      <h2 id="shortcuts-title" className="mb-3 text-lg font-semibold">
        Keyboard shortcuts
      </h2>
      <dl className="space-y-1.5 text-sm">
        {shortcuts.map(([key, what]) => (
          <div key={key} className="flex items-baseline gap-3">
            <dt className="w-10 shrink-0">
              <kbd className="kbd">{key}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
      <form method="dialog" className="mt-4 text-right">
        <button type="submit" className="btn" autoFocus>
          Close
        </button>
      </form>
    </dialog>
  );
}
