import { useCallback, useEffect, useState } from 'react';
import { useSession } from '../session';
import { errorMessage } from '../lib/api';
import { isoTime } from '../lib/events';
import { formatBytes } from '../lib/format';
import { explain } from '../lib/rejections';
import { Time, useNow } from './Time';

interface Rejection {
  key: string;
  time: string;
  reason: string;
  message: string;
  remoteAddr: string;
  bodyBytes: number;
  eventHeader: string;
  userAgent: string;
  signatureHeaders: string[];
  requestId: string;
}

/**
 * RejectedPage lists the deliveries the webhook refused (this replica's
 * recent ones), each with what docs/errors.md says about its reason and
 * what to check: the page an admin opens when "the webhook fails with 401".
 */
export function RejectedPage() {
  const { client } = useSession();
  const [rows, setRows] = useState<Rejection[] | null>(null);
  const [error, setError] = useState('');
  const now = useNow();
  const load = useCallback(async () => {
    try {
      const res = await client.listRejectedDeliveries({});
      setRows(
        res.rejected.map((r, i) => ({
          key: `${r.requestId}-${i}`,
          time: isoTime(r.receiveTime),
          reason: r.reason,
          message: r.message,
          remoteAddr: r.remoteAddr,
          bodyBytes: Number(r.bodyBytes),
          eventHeader: r.eventHeader,
          userAgent: r.userAgent,
          signatureHeaders: r.signatureHeaders,
          requestId: r.requestId,
        })),
      );
      setError('');
    } catch (e) {
      setError(errorMessage(e));
    }
  }, [client]);
  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section aria-labelledby="rejected-title" className="space-y-4">
      <div className="flex flex-wrap items-baseline gap-3">
        <h1 id="rejected-title" className="text-xl font-semibold">
          Rejected deliveries
        </h1>
        <button type="button" className="btn sm:ml-auto" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <p className="text-sm muted">
        Deliveries the webhook refused, newest first: nothing of them was stored. This replica keeps the most recent ones in memory; the
        request id matches the server&apos;s log line.
      </p>
      {error && (
        <p role="alert" className="alert">
          Could not load the rejected deliveries: {error}
        </p>
      )}
      {rows && rows.length === 0 && <p className="muted">No rejected deliveries since this server started.</p>}
      <ol className="space-y-3" data-testid="rejected-list">
        {rows?.map((r) => {
          const { doc, hint } = explain(r.reason);
          return (
            <li key={r.key} className="rejection" data-testid="rejection" data-reason={r.reason}>
              <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1">
                <span className="badge badge-red font-mono">{r.reason}</span>
                {doc?.http && <span className="text-sm muted">HTTP {doc.http}</span>}
                <span className="text-sm sm:ml-auto">
                  <Time iso={r.time} now={now} />
                </span>
              </div>
              <p className="text-sm">{r.message}</p>
              {doc && (
                <div className="text-sm" data-testid="rejection-explanation">
                  <span className="font-medium">What it means: </span>
                  {doc.situations.join('; ')}.{doc.why.length > 0 && <> {doc.why.join(' ')}</>}
                </div>
              )}
              {hint && (
                <p className="rejection-hint" data-testid="rejection-hint">
                  <span className="font-medium">What to check: </span>
                  {hint}
                </p>
              )}
              <dl className="rejection-meta">
                <div>
                  <dt>Address</dt>
                  <dd className="font-mono">{r.remoteAddr || '—'}</dd>
                </div>
                <div>
                  <dt>Size</dt>
                  <dd>{formatBytes(r.bodyBytes)}</dd>
                </div>
                <div>
                  <dt>Signature headers</dt>
                  <dd className="font-mono" data-testid="rejection-signature-headers">
                    {r.signatureHeaders.length ? r.signatureHeaders.join(', ') : 'none'}
                  </dd>
                </div>
                <div>
                  <dt>Event header</dt>
                  <dd className="font-mono truncate" title={r.eventHeader}>
                    {r.eventHeader || '—'}
                  </dd>
                </div>
                <div>
                  <dt>User agent</dt>
                  <dd className="truncate" title={r.userAgent}>
                    {r.userAgent || '—'}
                  </dd>
                </div>
                <div>
                  <dt>Request ID</dt>
                  <dd className="font-mono" data-testid="rejection-request-id">
                    {r.requestId || '—'}
                  </dd>
                </div>
              </dl>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
