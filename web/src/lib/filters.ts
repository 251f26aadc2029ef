// History filters live in the URL's query string, so a filtered view can be
// shared and the back button walks through earlier filters.

import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { CallbackStatus, ListCallbacksRequestSchema, type ListCallbacksRequest } from '@callbackd/client';

/** Filters are the history view's filters; "" means "any". */
export interface Filters {
  status: '' | 'received' | 'processed' | 'error';
  event: string;
  workflow: string;
  job: string;
  after: string; // ISO 8601 instant, inclusive
  before: string; // ISO 8601 instant, exclusive
  unviewed: boolean;
  page: string; // page token
}

export const emptyFilters: Filters = { status: '', event: '', workflow: '', job: '', after: '', before: '', unviewed: false, page: '' };

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
    page: p.get('page') ?? '',
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
  if (f.page) p.set('page', f.page);
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

/** toListRequest builds the ListCallbacks request of a filtered page. */
export function toListRequest(f: Filters, pageSize = 25): ListCallbacksRequest {
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
  });
}

/** groupFilters selects the callbacks of a grouped toast: [from, to] received. */
export function groupFilters(from: string, to: string): Filters {
  const end = new Date(Date.parse(to) + 1).toISOString();
  return { ...emptyFilters, after: from, before: end };
}
