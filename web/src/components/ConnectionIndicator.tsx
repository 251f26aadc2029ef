import { useEffect, useState } from 'react';
import type { ConnState, Role } from '../lib/tabs';

const text: Record<ConnState['status'], string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting',
  offline: 'Offline',
};

/** ConnectionIndicator shows whether live notifications are flowing. */
export function ConnectionIndicator({ state, role, onReconnectNow }: { state: ConnState; role: Role; onReconnectNow(): void }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state.retryAt === undefined) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [state.retryAt]);
  const wait = state.retryAt !== undefined ? Math.max(0, Math.ceil((state.retryAt - now) / 1000)) : 0;
  const label = state.status === 'reconnecting' && wait > 0 ? `${text.reconnecting} in ${wait} s` : text[state.status];
  const how = role === 'follower' ? 'shared with another tab' : 'this tab holds the stream';
  const waiting = state.status === 'reconnecting' && wait > 0;
  return (
    <span className="inline-flex items-center gap-2">
      <span
        className="conn"
        data-testid="connection"
        data-status={state.status}
        data-retry-at={state.retryAt}
        role="status"
        title={`Live notifications: ${label} (${how})${state.error ? ` — ${state.error}` : ''}`}
      >
        <span className={`conn-dot conn-${state.status}`} aria-hidden="true" />
        <span>{label}</span>
      </span>
      {waiting && (
        <button type="button" className="btn-ghost px-2 py-0.5" onClick={onReconnectNow} data-testid="reconnect-now">
          Reconnect now
        </button>
      )}
    </span>
  );
}
