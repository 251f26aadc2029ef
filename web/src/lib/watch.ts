// The WatchCallbacks stream with reconnects: backoff between attempts,
// resume from the last cursor, and a watchdog that treats a silent
// connection (no heartbeat) as dead.

import { Code, ConnectError } from '@connectrpc/connect';
import { create } from '@bufbuild/protobuf';
import { WatchCallbacksRequestSchema } from '@callbackd/client';
import type { AdminClient } from './api';
import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff';
import { toLiveEvent } from './events';
import type { StartStream, StreamSink } from './tabs';

export interface WatchOptions {
  backoff?: BackoffOptions;
  /** silenceMs: no message for this long means the connection is dead. */
  silenceMs?: number;
}

/** watchStream returns a StartStream that runs WatchCallbacks on client. */
export function watchStream(client: AdminClient, opts: WatchOptions = {}): StartStream {
  return (from, sink) => {
    const stop = new AbortController();
    const wake = { now: () => {} };
    void run(client, from, sink, stop.signal, opts, wake);
    return { stop: () => stop.abort(), reconnectNow: () => wake.now() };
  };
}

async function run(client: AdminClient, from: string, sink: StreamSink, signal: AbortSignal, opts: WatchOptions, wake: { now(): void }): Promise<void> {
  const silenceMs = opts.silenceMs ?? 45_000;
  let cursor = from;
  let attempt = 0;
  let lastError = '';
  while (!signal.aborted) {
    sink.state(attempt === 0 ? { status: 'connecting' } : { status: 'reconnecting', error: lastError });
    const conn = new AbortController();
    const onStop = () => conn.abort();
    signal.addEventListener('abort', onStop);
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => conn.abort(new Error('no heartbeat')), silenceMs);
    };
    try {
      arm();
      let first = true;
      for await (const res of client.watchCallbacks(create(WatchCallbacksRequestSchema, { cursor }), { signal: conn.signal })) {
        arm();
        if (first) {
          first = false;
          attempt = 0;
          sink.state({ status: 'live' });
        }
        const m = res.message;
        if (m.case === 'heartbeat') {
          cursor = m.value.cursor || cursor;
          sink.position(cursor);
        } else if (m.case === 'event') {
          const ev = toLiveEvent(m.value);
          cursor = m.value.cursor || cursor;
          if (ev) sink.event(ev);
          else sink.position(cursor);
        }
      }
      lastError = 'stream ended';
    } catch (e) {
      if (signal.aborted) return;
      const err = ConnectError.from(e);
      if (err.code === Code.Unauthenticated) {
        sink.unauthenticated();
        return;
      }
      if (err.code === Code.InvalidArgument && /cursor/i.test(err.rawMessage)) {
        // The server no longer knows our position (e.g. a new database):
        // continue from now rather than retrying forever.
        cursor = '';
        sink.resetCursor();
      }
      lastError = err.rawMessage || Code[err.code] || 'disconnected';
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onStop);
    }
    if (signal.aborted) return;
    const delay = backoffDelay(attempt, opts.backoff ?? defaultBackoff);
    attempt += 1;
    sink.state({ status: 'reconnecting', retryAt: Date.now() + delay, error: lastError });
    await sleep(delay, signal, wake);
  }
}

/** sleep waits ms, or less when signal aborts or wake.now is called ("Reconnect now"). */
function sleep(ms: number, signal: AbortSignal, wake: { now(): void }): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      wake.now = () => {};
      resolve();
    }
    signal.addEventListener('abort', done);
    wake.now = done;
  });
}
