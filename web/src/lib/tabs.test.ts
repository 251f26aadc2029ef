import { describe, expect, test } from 'vitest';
import type { LiveEvent } from './events';
import { CallbackStatus } from '@callbackd/client';
import { TabCoordinator, type ChannelLike, type LockManagerLike, type StreamSink, type TabMessage } from './tabs';

// Bus is an in-memory BroadcastChannel: messages are cloned and delivered
// synchronously to every other member.
class Bus {
  readonly members = new Set<FakeChannel>();
  channel(): FakeChannel {
    const c = new FakeChannel(this);
    this.members.add(c);
    return c;
  }
}
class FakeChannel implements ChannelLike {
  onmessage: ((ev: MessageEvent) => void) | null = null;
  constructor(private readonly bus: Bus) {}
  postMessage(message: unknown): void {
    for (const m of this.bus.members) {
      if (m !== this) m.onmessage?.({ data: structuredClone(message) } as MessageEvent);
    }
  }
  close(): void {
    this.bus.members.delete(this);
  }
}

// Locks is an exclusive lock manager: the first requester holds the lock,
// the others queue in order; aborted requests leave the queue.
class Locks implements LockManagerLike {
  private held = false;
  private readonly queue: Array<() => void> = [];
  request(_name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const grant = () => {
        this.held = true;
        void callback().then(() => {
          this.held = false;
          resolve(undefined);
          this.queue.shift()?.();
        });
      };
      if (!this.held) return grant();
      this.queue.push(grant);
      options.signal.addEventListener('abort', () => {
        const i = this.queue.indexOf(grant);
        if (i >= 0) this.queue.splice(i, 1);
        reject(new DOMException('aborted', 'AbortError'));
      });
    });
  }
}

interface Stream {
  from: string;
  sink: StreamSink;
  stopped: boolean;
  woken: number;
}

function received(cursor: string, id: string): LiveEvent {
  return {
    cursor,
    kind: 'received',
    callback: {
      id,
      callbackId: `${id}:workflow.completed`,
      eventType: 'workflow.completed',
      workflowName: 'summarise',
      jobId: 'job-1',
      stepId: '',
      knownEvent: true,
      status: CallbackStatus.PROCESSED,
      errorMessage: '',
      createTime: '2025-12-20T10:30:00.000Z',
      deliveryCount: 1,
      preview: '{}',
      viewedByMe: false,
    },
  };
}

function setup(n: number, locks: LockManagerLike | null = new Locks()) {
  const bus = new Bus();
  const streams: Stream[] = [];
  let clock = 1000;
  const tabs = Array.from({ length: n }, (_, i) => {
    const tab = {
      id: `tab-${i}`,
      events: [] as LiveEvent[],
      toasts: [] as string[],
      states: [] as string[],
      loggedOut: 0,
      coordinator: null as unknown as TabCoordinator,
    };
    tab.coordinator = new TabCoordinator({
      tabId: tab.id,
      lockName: 'callbackd-watch-test',
      locks,
      channel: bus.channel(),
      now: () => (clock += 1),
      startStream: (from, sink) => {
        const s: Stream = { from, sink, stopped: false, woken: 0 };
        streams.push(s);
        return { stop: () => (s.stopped = true), reconnectNow: () => (s.woken += 1) };
      },
      onEvent: (ev, toast) => {
        tab.events.push(ev);
        if (toast) tab.toasts.push(ev.cursor);
      },
      onState: (s, role) => tab.states.push(`${role}:${s.status}`),
      onUnauthenticated: () => (tab.loggedOut += 1),
    });
    return tab;
  });
  return { tabs, streams, bus };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('TabCoordinator', () => {
  test('"Reconnect now" in any tab reaches the stream of the leader', async () => {
    const { tabs, streams } = setup(3);
    tabs.forEach((t) => t.coordinator.start(true));
    await settle();
    tabs[2]!.coordinator.reconnectNow();
    tabs[0]!.coordinator.reconnectNow();
    expect(streams).toHaveLength(1);
    expect(streams[0]!.woken).toBe(2);
  });

  test('five tabs open one stream and toast each callback once', async () => {
    const { tabs, streams } = setup(5);
    tabs.forEach((t) => t.coordinator.start(true));
    await settle();
    expect(streams).toHaveLength(1);
    expect(tabs.map((t) => t.coordinator.currentRole)).toEqual(['leader', 'follower', 'follower', 'follower', 'follower']);

    streams[0]!.sink.event(received('c1.1', 'a'));
    streams[0]!.sink.event(received('c1.2', 'b'));
    for (const t of tabs) expect(t.events.map((e) => e.cursor)).toEqual(['c1.1', 'c1.2']);
    const toasts = tabs.flatMap((t) => t.toasts);
    expect(toasts).toEqual(['c1.1', 'c1.2']);
    // The most recently focused tab (the last started) shows them.
    expect(tabs[4]!.toasts).toHaveLength(2);
  });

  test('focus moves the toasts to the focused tab', async () => {
    const { tabs, streams } = setup(3);
    tabs.forEach((t) => t.coordinator.start(true));
    await settle();
    tabs[1]!.coordinator.focused();
    streams[0]!.sink.event(received('c1.1', 'a'));
    expect(tabs.map((t) => t.toasts.length)).toEqual([0, 1, 0]);
    tabs[0]!.coordinator.focused();
    streams[0]!.sink.event(received('c1.2', 'b'));
    expect(tabs.map((t) => t.toasts.length)).toEqual([1, 1, 0]);
  });

  test('a closed toaster tab hands toasts back', async () => {
    const { tabs, streams } = setup(2);
    tabs.forEach((t) => t.coordinator.start(true));
    await settle();
    tabs[1]!.coordinator.stop();
    streams[0]!.sink.event(received('c1.1', 'a'));
    expect(tabs[0]!.toasts).toEqual(['c1.1']);
  });

  test('when the leader closes, another tab resumes from the last cursor without duplicates', async () => {
    const { tabs, streams } = setup(3);
    tabs.forEach((t) => t.coordinator.start(true));
    await settle();
    const first = streams[0]!;
    first.sink.position('c1.0');
    first.sink.event(received('c1.1', 'a'));
    first.sink.event(received('c1.2', 'b'));
    tabs[0]!.coordinator.stop();
    await settle();
    expect(first.stopped).toBe(true);
    expect(streams).toHaveLength(2);
    const second = streams[1]!;
    expect(second.from).toBe('c1.2');
    expect(tabs[1]!.coordinator.currentRole).toBe('leader');
    // A replay of what was already seen is dropped; new events flow on.
    second.sink.event(received('c1.2', 'b'));
    second.sink.event(received('c1.3', 'c'));
    expect(tabs[2]!.events.map((e) => e.cursor)).toEqual(['c1.1', 'c1.2', 'c1.3']);
    expect(tabs.flatMap((t) => t.toasts)).toEqual(['c1.1', 'c1.2', 'c1.3']);
  });

  test('followers learn the connection state and the heartbeat cursor', async () => {
    const { tabs, streams } = setup(2);
    tabs.forEach((t) => t.coordinator.start(true));
    await settle();
    streams[0]!.sink.state({ status: 'live' });
    streams[0]!.sink.position('c1.7');
    expect(tabs[1]!.states.at(-1)).toBe('follower:live');
    expect(tabs[1]!.coordinator.cursor).toBe('c1.7');
    streams[0]!.sink.state({ status: 'reconnecting', retryAt: 5 });
    expect(tabs[1]!.states.at(-1)).toBe('follower:reconnecting');
  });

  test('a late tab says hello and gets the current state', async () => {
    const { tabs, streams } = setup(2);
    tabs[0]!.coordinator.start(true);
    await settle();
    streams[0]!.sink.state({ status: 'live' });
    tabs[1]!.coordinator.start(false);
    expect(tabs[1]!.states.at(-1)).toBe('follower:live');
  });

  test('unauthenticated reaches every tab', async () => {
    const { tabs, streams } = setup(3);
    tabs.forEach((t) => t.coordinator.start(true));
    await settle();
    streams[0]!.sink.unauthenticated();
    expect(tabs.map((t) => t.loggedOut)).toEqual([1, 1, 1]);
  });

  test('without Web Locks every tab streams, and still one toast per callback', async () => {
    const { tabs, streams } = setup(3, null);
    tabs.forEach((t) => t.coordinator.start(true));
    await settle();
    expect(streams).toHaveLength(3);
    expect(tabs.map((t) => t.coordinator.currentRole)).toEqual(['solo', 'solo', 'solo']);
    for (const s of streams) s.sink.event(received('c1.1', 'a'));
    expect(tabs.map((t) => t.events.length)).toEqual([1, 1, 1]);
    expect(tabs.flatMap((t) => t.toasts)).toEqual(['c1.1']);
  });

  test('messages survive structured cloning', () => {
    const m: TabMessage = { type: 'event', event: received('c1.1', 'a'), toaster: 'tab-0' };
    expect(structuredClone(m)).toEqual(m);
  });
});
