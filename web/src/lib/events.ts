// Plain, structured-cloneable views of the stream's messages: they cross
// tabs over BroadcastChannel and are easy to build in tests.

import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { CallbackStatus, type Callback, type CallbackEvent, type CallbackView, type CallbackViewBatch } from '@callbackd/client';

/** CallbackSummary is what lists and toasts show of a callback. */
export interface CallbackSummary {
  id: string;
  callbackId: string;
  eventType: string;
  workflowName: string;
  jobId: string;
  stepId: string;
  /** knownEvent is false for event types this server does not know. */
  knownEvent: boolean;
  status: CallbackStatus;
  /** errorMessage is the payload's error_message ("" when none). */
  errorMessage: string;
  createTime: string; // ISO 8601, "" when unknown
  deliveryCount: number;
  preview: string;
  viewedByMe: boolean;
}

/** ViewSummary says that an admin opened a callback. */
export interface ViewSummary {
  callbackId: string;
  adminId: string;
  adminName: string;
  viewTime: string;
}

/** ViewBatchSummary says that an admin marked many callbacks viewed at once (MarkAllViewed). */
export interface ViewBatchSummary {
  adminId: string;
  adminName: string;
  viewTime: string;
  count: number;
}

/** CallbackLiveEvent is an event about one callback. */
export type CallbackLiveEvent = { cursor: string; kind: 'received' | 'redelivered'; callback: CallbackSummary } | { cursor: string; kind: 'viewed'; view: ViewSummary };

/** LiveEvent is one event of the WatchCallbacks stream: about one callback, or a batch of views. */
export type LiveEvent = CallbackLiveEvent | { cursor: string; kind: 'viewed_many'; batch: ViewBatchSummary };

/** aboutOneCallback tells a per-callback event from a batch. */
export function aboutOneCallback(ev: LiveEvent): ev is CallbackLiveEvent {
  return ev.kind !== 'viewed_many';
}

/**
 * isoTime writes a timestamp in ISO 8601 at millisecond precision,
 * truncated rather than rounded (timestampDate rounds): a time range built
 * from such strings (a burst's "Show failures", from its earliest to its
 * latest callback) must not start after its earliest callback, whose
 * stored time has microseconds.
 */
export function isoTime(ts: Timestamp | undefined): string {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000)).toISOString() : '';
}

export function summarize(c: Callback): CallbackSummary {
  return {
    id: c.id,
    callbackId: c.callbackId,
    eventType: c.eventType,
    workflowName: c.workflowName,
    jobId: c.externalJobId,
    stepId: c.stepId,
    knownEvent: c.knownEvent,
    status: c.status,
    errorMessage: c.errorMessage,
    createTime: isoTime(c.createTime),
    deliveryCount: c.deliveryCount,
    preview: c.payloadPreview,
    viewedByMe: c.viewedByMe,
  };
}

export function summarizeView(v: CallbackView): ViewSummary {
  return { callbackId: v.callbackId, adminId: v.adminId, adminName: v.adminName, viewTime: isoTime(v.viewTime) };
}

export function summarizeViewBatch(b: CallbackViewBatch): ViewBatchSummary {
  return { adminId: b.adminId, adminName: b.adminName, viewTime: isoTime(b.viewTime), count: Number(b.count) };
}

/** toLiveEvent converts a stream event; unknown event kinds give null. */
export function toLiveEvent(e: CallbackEvent): LiveEvent | null {
  switch (e.event.case) {
    case 'received':
    case 'redelivered':
      return { cursor: e.cursor, kind: e.event.case, callback: summarize(e.event.value) };
    case 'viewed':
      return { cursor: e.cursor, kind: 'viewed', view: summarizeView(e.event.value) };
    case 'viewedMany':
      return { cursor: e.cursor, kind: 'viewed_many', batch: summarizeViewBatch(e.event.value) };
    default:
      return null;
  }
}

/** isFailure tells whether a callback reports a failed job: it toasts red and stays. */
export function isFailure(c: Pick<CallbackSummary, 'status' | 'eventType'>): boolean {
  return c.status === CallbackStatus.ERROR || c.eventType === 'workflow.failed';
}

export const statusLabel: Record<CallbackStatus, string> = {
  [CallbackStatus.UNSPECIFIED]: 'unknown',
  [CallbackStatus.RECEIVED]: 'received',
  [CallbackStatus.PROCESSED]: 'processed',
  [CallbackStatus.ERROR]: 'error',
};
