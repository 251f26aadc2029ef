import { useState } from 'react';
import { notifyOptedIn, setNotifyOptIn } from '../lib/notify';

const supported = () => typeof Notification !== 'undefined';

/**
 * NotifyToggle opts this browser in or out of desktop notifications of
 * failures (shown while the console is hidden). Asking the browser's
 * permission happens on the admin's click, as browsers require.
 */
export function NotifyToggle() {
  const [on, setOn] = useState(() => supported() && notifyOptedIn(window.localStorage) && Notification.permission === 'granted');
  const [note, setNote] = useState('');
  if (!supported()) return null;
  const toggle = async () => {
    if (on) {
      setNotifyOptIn(window.localStorage, false);
      setOn(false);
      setNote('');
      return;
    }
    const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
    if (permission !== 'granted') {
      setNote('The browser blocks notifications for this site: allow them in its site settings.');
      return;
    }
    setNotifyOptIn(window.localStorage, true);
    setOn(true);
    setNote('');
  };
  return (
    <button
      type="button"
      className="btn-ghost"
      aria-pressed={on}
      onClick={() => void toggle()}
      data-testid="notify-toggle"
      title={note || (on ? 'Desktop notifications of failures while this console is hidden: on (click to turn off)' : 'Notify me of failures on the desktop while this console is hidden')}
    >
      <span className={on ? 'notify-dot notify-on' : 'notify-dot'} aria-hidden="true" />
      <span className="sr-only sm:not-sr-only">Failure alerts</span>
    </button>
  );
}
