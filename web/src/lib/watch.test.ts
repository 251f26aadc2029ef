import { expect, test } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { CallbackEventSchema, CallbackSchema, WatchCallbacksResponseSchema, type WatchCallbacksRequest, type WatchCallbacksResponse } from '@callbackd/client';
import type { AdminClient } from './api';
import type { LiveEvent } from './events';
import type { ConnState, StreamSink } from './tabs';
import { watchStream } from './watch';

const heartbeat = (cursor: string) => create(WatchCallbacksResponseSchema, { message: { case: 'heartbeat', value: { cursor } } });
const received = (cursor: string, id: string) =>
  create(WatchCallbacksResponseSchema, {
    message: { case: 'event', value: create(CallbackEventSchema, { cursor, event: { case: 'received', value: create(CallbackSchema, { id }) } }) },
  });

// fakeClient plays one scripted stream per call, each ending with an error.
function fakeClient(script: Array<{ messages: WatchCallbacksResponse[]; end: ConnectError | null }>) {
  const requests: string[] = [];
  const client = {
    async *watchCallbacks(req: WatchCallbacksRequest, opts: { signal: AbortSignal }) {
      requests.push(req.cursor);
      const step = script.shift();
      if (!step) {
        // Stay connected, silent, until the client aborts (as fetch does).
        await new Promise<never>((_, reject) => opts.signal.addEventListener('abort', () => reject(new ConnectError('aborted', Code.Canceled))));
      }
      for (const m of step!.messages) yield m;
      if (step!.end) throw step!.end;
    },
  } as unknown as AdminClient;
  return { client, requests };
}

function recorder() {
  const events: LiveEvent[] = [];
  const states: ConnState['status'][] = [];
  const positions: string[] = [];
  let unauthenticated = 0;
  let resets = 0;
  const sink: StreamSink = {
    event: (e) => events.push(e),
    position: (c) => positions.push(c),
    state: (s) => states.push(s.status),
    unauthenticated: () => (unauthenticated += 1),
    resetCursor: () => (resets += 1),
  };
  return { sink, events, states, positions, counts: () => ({ unauthenticated, resets }) };
}

const fast = { backoff: { baseMs: 1, maxMs: 2 } };
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

test('reconnects after "fell behind" and resumes from the last cursor', async () => {
  const { client, requests } = fakeClient([
    { messages: [heartbeat('c1.1'), received('c1.2', 'a')], end: new ConnectError('watcher fell behind', Code.Unavailable) },
    { messages: [heartbeat('c1.2'), received('c1.3', 'b')], end: new ConnectError('connection reset', Code.Unknown) },
  ]);
  const r = recorder();
  const s = watchStream(client, fast)('', r.sink);
  await until(() => requests.length === 3);
  s.stop();
  expect(requests).toEqual(['', 'c1.2', 'c1.3']);
  expect(r.events.map((e) => e.cursor)).toEqual(['c1.2', 'c1.3']);
  expect(r.states).toContain('reconnecting');
  expect(r.states.filter((x) => x === 'live').length).toBeGreaterThanOrEqual(2);
});

test('an unknown cursor restarts from now', async () => {
  const { client, requests } = fakeClient([{ messages: [], end: new ConnectError('cursor: invalid cursor', Code.InvalidArgument) }]);
  const r = recorder();
  const s = watchStream(client, fast)('c9.999', r.sink);
  await until(() => requests.length === 2);
  s.stop();
  expect(requests).toEqual(['c9.999', '']);
  expect(r.counts().resets).toBe(1);
});

test('unauthenticated stops for good', async () => {
  const { client, requests } = fakeClient([{ messages: [], end: new ConnectError('no token', Code.Unauthenticated) }]);
  const r = recorder();
  watchStream(client, fast)('', r.sink);
  await until(() => r.counts().unauthenticated === 1);
  await new Promise((res) => setTimeout(res, 30));
  expect(requests).toEqual(['']);
});

test('a silent connection is dropped and resumed', async () => {
  const { client, requests } = fakeClient([]);
  const r = recorder();
  const s = watchStream(client, { ...fast, silenceMs: 20 })('c1.5', r.sink);
  await until(() => requests.length >= 2);
  s.stop();
  expect(requests.slice(0, 2)).toEqual(['c1.5', 'c1.5']);
});

test('"Reconnect now" cuts the wait between attempts short', async () => {
  const { client, requests } = fakeClient([{ messages: [heartbeat('c1.1')], end: new ConnectError('connection reset', Code.Unknown) }]);
  const r = recorder();
  // A wait of an hour: only reconnectNow can end it within the test.
  const s = watchStream(client, { backoff: { baseMs: 3_600_000, maxMs: 3_600_000 } })('', r.sink);
  await until(() => r.states.includes('reconnecting') && requests.length === 1);
  await new Promise((res) => setTimeout(res, 20));
  s.reconnectNow?.();
  await until(() => requests.length === 2);
  expect(requests[1]).toBe('c1.1');
  s.stop();
});
