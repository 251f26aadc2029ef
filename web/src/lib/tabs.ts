// Tab coordination: one WatchCallbacks stream per browser and credential.
//
// The tab holding a Web Lock (navigator.locks) is the leader: it alone opens
// the stream and relays every event and connection state to the other tabs
// over a BroadcastChannel. When it closes, the browser hands the lock to
// another tab, which resumes the stream from the last cursor it was told.
//
// Exactly one tab toasts each callback: the tab that most recently became
// visible or focused (every tab hears every "focus" message, so all agree).
// Where Web Locks are missing (plain HTTP on a non-loopback host is not a
// secure context), every tab streams for itself and the same focus rule
// still keeps it to one toast.

import { CursorTracker } from './cursor';
import type { LiveEvent } from './events';

/** ConnState is what the connection indicator shows. */
export interface ConnState {
  status: 'connecting' | 'live' | 'reconnecting' | 'offline';
  /** retryAt is when the next attempt starts (ms since epoch). */
  retryAt?: number;
  error?: string;
}

/** StreamSink receives what a stream produces. */
export interface StreamSink {
  event(ev: LiveEvent): void;
  position(cursor: string): void;
  state(s: ConnState): void;
  unauthenticated(): void;
  /** resetCursor: the server does not know the cursor; start from now. */
  resetCursor(): void;
}

/** StreamHandle controls a running stream: stop ends it for good; reconnectNow cuts a wait between attempts short. */
export interface StreamHandle {
  stop(): void;
  reconnectNow?(): void;
}

/** StartStream opens a stream from a cursor. */
export type StartStream = (from: string, sink: StreamSink) => StreamHandle;

/** LockManagerLike is the part of navigator.locks the coordinator uses. */
export interface LockManagerLike {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown>;
}

/** ChannelLike is the part of BroadcastChannel the coordinator uses. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((ev: MessageEvent) => void) | null;
  close(): void;
}

/** TabMessage is what tabs tell each other. */
export type TabMessage =
  | { type: 'event'; event: LiveEvent; toaster: string }
  | { type: 'state'; state: ConnState; cursor: string }
  | { type: 'hello'; tab: string }
  | { type: 'focus'; tab: string; at: number }
  | { type: 'bye'; tab: string }
  | { type: 'reconnect' }
  | { type: 'unauthenticated' };

export type Role = 'leader' | 'follower' | 'solo';

export interface CoordinatorOptions {
  tabId: string;
  /** lockName is shared by the tabs of one credential. */
  lockName: string;
  locks: LockManagerLike | null;
  channel: ChannelLike | null;
  startStream: StartStream;
  /** onEvent gets each event once; toast says whether this tab shows it. */
  onEvent(ev: LiveEvent, toast: boolean): void;
  onState(s: ConnState, role: Role): void;
  onUnauthenticated(): void;
  now?: () => number;
}

/** TabCoordinator runs one tab's part of the protocol. */
export class TabCoordinator {
  private readonly tracker = new CursorTracker();
  private readonly focusLog = new Map<string, number>();
  private readonly abort = new AbortController();
  private stream: StreamHandle | null = null;
  private release: (() => void) | null = null;
  private role: Role = 'follower';
  private state: ConnState = { status: 'connecting' };
  private readonly now: () => number;

  constructor(private readonly o: CoordinatorOptions) {
    this.now = o.now ?? Date.now;
  }

  /** currentRole tells whether this tab streams (for tests and the UI). */
  get currentRole(): Role {
    return this.role;
  }

  /** cursor is the resume position this tab knows. */
  get cursor(): string {
    return this.tracker.cursor;
  }

  start(visible: boolean): void {
    const { channel, locks } = this.o;
    if (channel) channel.onmessage = (e) => this.receive(e.data as TabMessage);
    if (visible) this.focused();
    if (!locks || !channel) {
      this.lead('solo');
      return;
    }
    this.o.onState(this.state, 'follower');
    this.post({ type: 'hello', tab: this.o.tabId });
    locks
      .request(this.o.lockName, { signal: this.abort.signal }, () => {
        if (this.abort.signal.aborted) return Promise.resolve();
        this.lead('leader');
        return new Promise<void>((resolve) => {
          this.release = resolve;
        });
      })
      .catch(() => {
        // AbortError after stop(): nothing to do.
      });
  }

  /** stop ends this tab's part: the stream, the lock and the channel. */
  stop(): void {
    if (this.abort.signal.aborted) return;
    this.post({ type: 'bye', tab: this.o.tabId });
    this.abort.abort();
    this.stream?.stop();
    this.stream = null;
    this.release?.();
    this.release = null;
    if (this.o.channel) {
      this.o.channel.onmessage = null;
      this.o.channel.close();
    }
  }

  /** reconnectNow asks the tab holding the stream to stop waiting and reconnect at once. */
  reconnectNow(): void {
    if (this.stream) this.stream.reconnectNow?.();
    else this.post({ type: 'reconnect' });
  }

  /** focused is called when this tab becomes visible or gains focus. */
  focused(): void {
    const at = this.now();
    this.focusLog.set(this.o.tabId, at);
    this.post({ type: 'focus', tab: this.o.tabId, at });
  }

  /** toaster is the tab that shows toasts: the most recently focused. */
  toaster(): string {
    let best = this.o.tabId;
    let bestAt = -1;
    for (const [tab, at] of this.focusLog) {
      if (at > bestAt || (at === bestAt && tab < best)) {
        best = tab;
        bestAt = at;
      }
    }
    return best;
  }

  private lead(role: Role): void {
    this.role = role;
    const sink: StreamSink = {
      event: (ev) => {
        if (!this.tracker.accept(ev.cursor)) return;
        const toaster = this.toaster();
        this.post({ type: 'event', event: ev, toaster });
        this.o.onEvent(ev, toaster === this.o.tabId);
      },
      position: (cursor) => {
        this.tracker.position(cursor);
        this.post({ type: 'state', state: this.state, cursor: this.tracker.cursor });
      },
      state: (s) => {
        this.state = s;
        this.post({ type: 'state', state: s, cursor: this.tracker.cursor });
        this.o.onState(s, this.role);
      },
      unauthenticated: () => {
        this.post({ type: 'unauthenticated' });
        this.o.onUnauthenticated();
      },
      resetCursor: () => this.tracker.reset(),
    };
    this.stream = this.o.startStream(this.tracker.cursor, sink);
  }

  private receive(m: TabMessage): void {
    switch (m.type) {
      case 'event':
        if (this.role === 'solo') return; // it has its own stream
        if (this.tracker.accept(m.event.cursor)) this.o.onEvent(m.event, m.toaster === this.o.tabId);
        return;
      case 'state':
        if (this.role !== 'follower') return;
        this.tracker.position(m.cursor);
        this.state = m.state;
        this.o.onState(m.state, 'follower');
        return;
      case 'hello':
        if (this.role === 'leader') this.post({ type: 'state', state: this.state, cursor: this.tracker.cursor });
        return;
      case 'focus':
        this.focusLog.set(m.tab, m.at);
        return;
      case 'bye':
        this.focusLog.delete(m.tab);
        return;
      case 'reconnect':
        this.stream?.reconnectNow?.();
        return;
      case 'unauthenticated':
        this.o.onUnauthenticated();
        return;
    }
  }

  private post(m: TabMessage): void {
    this.o.channel?.postMessage(m);
  }
}
