// History filters live in the URL's query string, so a filtered view can be
// shared and the back button walks through earlier filters.

import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { CallbackStatus, ListCallbacksRequestSchema, MarkAllViewedRequestSchema, type ListCallbacksRequest, type MarkAllViewedRequest } from '@callbackd/client';

/** Filters are the history view's filters; "" means "any". */
export interface Filters {
  status: '' | 'received' | 'processed' | 'error';
  event: string;
  workflow: string;
  job: string;
  after: string; // ISO 8601 instant, inclusive
  before: string; // ISO 8601 instant, exclusive
  unviewed: boolean;
  /** q is the search (ListCallbacks query): words, "phrases", prefix* terms. */
  q: string;
  /** size is the page size: one of pageSizes. */
  size: number;
  page: string; // page token
  /** start is the position of the page's first row (0-based), for "26–50 of 1,284". */
  start: number;
}

/** pageSizes are the page sizes offered; the first is the default. */
export const pageSizes = [25, 50, 100] as const;

export const emptyFilters: Filters = { status: '', event: '', workflow: '', job: '', after: '', before: '', unviewed: false, q: '', size: pageSizes[0], page: '', start: 0 };

const statuses: Record<Exclude<Filters['status'], ''>, CallbackStatus> = {
  received: CallbackStatus.RECEIVED,
  processed: CallbackStatus.PROCESSED,
  error: CallbackStatus.ERROR,
};

function isStatus(s: string): s is Exclude<Filters['status'], ''> {
  return Object.hasOwn(statuses, s);
}

function validInstant(s: string): string {
  return s !== '' && !Number.isNaN(Date.parse(s)) ? s : '';
}

/** filtersFromSearch reads filters from a query string; junk is ignored. */
export function filtersFromSearch(search: string): Filters {
  const p = new URLSearchParams(search);
  const status = p.get('status') ?? '';
  return {
    status: isStatus(status) ? status : '',
    event: p.get('event')?.trim() ?? '',
    workflow: p.get('workflow')?.trim() ?? '',
    job: p.get('job')?.trim() ?? '',
    after: validInstant(p.get('after') ?? ''),
    before: validInstant(p.get('before') ?? ''),
    unviewed: p.get('unviewed') === '1',
    q: p.get('q')?.trim() ?? '',
    size: (pageSizes as readonly number[]).includes(Number(p.get('size'))) ? Number(p.get('size')) : pageSizes[0],
    page: p.get('page') ?? '',
    // A position only means something with its page token.
    start: p.get('page') && /^\d{1,9}$/.test(p.get('start') ?? '') ? Number(p.get('start')) : 0,
  };
}

/** searchFromFilters writes filters as a query string ("" when none), in a fixed order. */
export function searchFromFilters(f: Filters): string {
  const p = new URLSearchParams();
  if (f.status) p.set('status', f.status);
  if (f.event) p.set('event', f.event);
  if (f.workflow) p.set('workflow', f.workflow);
  if (f.job) p.set('job', f.job);
  if (f.after) p.set('after', f.after);
  if (f.before) p.set('before', f.before);
  if (f.unviewed) p.set('unviewed', '1');
  if (f.q) p.set('q', f.q);
  if (f.size !== pageSizes[0]) p.set('size', String(f.size));
  if (f.page) p.set('page', f.page);
  if (f.page && f.start > 0) p.set('start', String(f.start));
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

/** toListRequest builds the ListCallbacks request of a filtered page. */
export function toListRequest(f: Filters, pageSize = f.size): ListCallbacksRequest {
  return create(ListCallbacksRequestSchema, {
    pageSize,
    pageToken: f.page,
    status: f.status ? statuses[f.status] : CallbackStatus.UNSPECIFIED,
    eventType: f.event,
    workflowName: f.workflow,
    externalJobId: f.job,
    createTimeAfter: f.after ? timestampFromDate(new Date(f.after)) : undefined,
    createTimeBefore: f.before ? timestampFromDate(new Date(f.before)) : undefined,
    unviewedOnly: f.unviewed,
    query: f.q,
  });
}

/** toMarkAllViewedRequest selects what "Mark all as viewed" marks: the filtered callbacks, every page. */
export function toMarkAllViewedRequest(f: Filters): MarkAllViewedRequest {
  const list = toListRequest(f);
  return create(MarkAllViewedRequestSchema, {
    status: list.status,
    eventType: list.eventType,
    workflowName: list.workflowName,
    externalJobId: list.externalJobId,
    createTimeAfter: list.createTimeAfter,
    createTimeBefore: list.createTimeBefore,
    query: list.query,
  });
}

/** pageRange says which rows a page shows: "26–50 of 1,284", "about 12,000" for an estimate. */
export function pageRange(start: number, rows: number, total: bigint | number | null, estimate: boolean): string {
  const of = total === null ? '' : ` of ${estimate ? 'about ' : ''}${total.toLocaleString('en-US')}`;
  if (rows === 0) return total === null ? 'No callbacks' : `0${of}`;
  return `${(start + 1).toLocaleString('en-US')}–${(start + rows).toLocaleString('en-US')}${of}`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * toLocalInput writes an instant for <input type="datetime-local"> (local
 * time, no zone) with the precision the instant has: seconds and
 * milliseconds are kept when they are not zero, so that a burst's range of
 * one minute still reads as two different times and survives an edit.
 */
export function toLocalInput(iso: string): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  let s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.getSeconds() !== 0 || d.getMilliseconds() !== 0) s += `:${pad(d.getSeconds())}`;
  if (d.getMilliseconds() !== 0) s += `.${pad(d.getMilliseconds(), 3)}`;
  return s;
}

/** fromLocalInput reads a datetime-local value (local time) as an ISO 8601 instant. */
export function fromLocalInput(v: string): string {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** groupFilters selects the callbacks of a grouped toast: [from, to] received. */
export function groupFilters(from: string, to: string): Filters {
  const end = new Date(Date.parse(to) + 1).toISOString();
  return { ...emptyFilters, after: from, before: end };
}
