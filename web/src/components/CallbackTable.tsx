import type { MouseEvent } from 'react';
import type { CallbackSummary } from '../lib/events';
import { shortId } from '../lib/format';
import { previewParts, previewText } from '../lib/preview';
import { callbackPath, navigate } from '../lib/router';
import { StatusBadge } from './StatusBadge';
import { Time } from './Time';
import { usePhone } from './usePhone';

interface ListProps {
  rows: CallbackSummary[];
  loading: boolean;
  now: number;
  open(id: string): void;
  /** current is the callback open in the detail view, marked in the list. */
  current: string | null;
}

/**
 * CallbackTable lists callbacks; a row opens the detail window. Each row is
 * one line (long values end with an ellipsis, full on hover) and one Tab
 * stop (its id button; the job link is reached from the detail window). On
 * phones the rows become cards.
 */
export function CallbackTable(props: ListProps) {
  const phone = usePhone();
  return phone ? <CallbackCards {...props} /> : <CallbackRows {...props} />;
}

function Unknown({ c }: { c: CallbackSummary }) {
  if (c.knownEvent) return null;
  return (
    <span className="badge badge-gray ml-1" title="An event type this server does not know: stored as sent" data-testid="unknown-event">
      unknown
    </span>
  );
}

/**
 * plainClick opens the callback in this page for a plain left click; a
 * click with a modifier (Ctrl/Cmd, Shift, middle button) is left to the
 * browser, which opens the link in a new tab or window.
 */
function plainClick(e: MouseEvent<HTMLAnchorElement>, open: () => void): void {
  e.stopPropagation();
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  open();
}

function Deliveries({ count }: { count: number }) {
  if (count <= 1) return <span data-testid="delivery-count">1</span>;
  return (
    <span className="redelivered" data-testid="delivery-count" title={`Delivered ${count} times: the sender retried`} aria-label={`${count} deliveries (redelivered)`}>
      ↻ {count}
    </span>
  );
}

function CallbackRows({ rows, loading, now, open, current }: ListProps) {
  return (
    <div className="table-scroll" data-testid="table-scroll">
      <table className="table" data-testid="history-table">
        <caption className="sr-only">Callbacks, newest first. Open one to see its details.</caption>
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">Event</th>
            <th scope="col">Workflow</th>
            <th scope="col">Step</th>
            <th scope="col">Job</th>
            <th scope="col">Status</th>
            <th scope="col" title="Deliveries (↻: redelivered)">Dlv.</th>
            <th scope="col">Received</th>
            <th scope="col">Error / preview</th>
            <th scope="col">Viewed</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.id} data-testid="history-row" data-id={c.id} data-job={c.jobId} data-viewed={c.viewedByMe} onClick={() => open(c.id)} className="row" aria-current={c.id === current ? 'true' : undefined}>
              <td>
                <a href={callbackPath(c.id)} className="btn-link font-mono" onClick={(e) => plainClick(e, () => open(c.id))} aria-label={`Open callback ${c.id}`} title={c.id}>
                  {shortId(c.id)}
                </a>
              </td>
              <td className="font-mono cell-clip" title={c.eventType}>
                {c.eventType}
                <Unknown c={c} />
              </td>
              <td className="cell-clip" title={c.workflowName}>
                {c.workflowName || '—'}
              </td>
              <td className="font-mono cell-clip" title={c.stepId} data-testid="step-cell">
                {c.stepId || '—'}
              </td>
              <td className="font-mono">
                {c.jobId ? (
                  <a
                    href={`/jobs/${encodeURIComponent(c.jobId)}`}
                    tabIndex={-1}
                    onClick={(e) => (e.preventDefault(), e.stopPropagation(), navigate(`/jobs/${encodeURIComponent(c.jobId)}`))}
                    title={`Timeline of job ${c.jobId}`}
                    className="btn-link"
                  >
                    {shortId(c.jobId)}
                  </a>
                ) : (
                  '—'
                )}
              </td>
              <td>
                <StatusBadge status={c.status} />
              </td>
              <td>
                <Deliveries count={c.deliveryCount} />
              </td>
              <td>
                <Time iso={c.createTime} now={now} />
              </td>
              <td className="preview" title={previewText(c)} data-testid="preview-cell">
                {previewParts(c).map((p, i) => (
                  <span key={i} className={p.label === 'error' ? 'preview-error' : p.label ? 'preview-field' : 'preview-rest'}>
                    {p.label && <span className="preview-label">{p.label} </span>}
                    {p.value}
                  </span>
                ))}
              </td>
              <td data-testid="viewed-cell">{c.viewedByMe ? <span aria-label="viewed by you">✓ viewed</span> : <span className="new-dot">new</span>}</td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td colSpan={10} className="py-8 text-center muted">
                {loading ? 'Loading…' : 'No callbacks match.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function CallbackCards({ rows, loading, now, open, current }: ListProps) {
  return (
    <ul className="cards" data-testid="history-cards" aria-label="Callbacks, newest first">
      {rows.map((c) => (
        <li key={c.id} data-testid="history-row" data-id={c.id} data-job={c.jobId} data-viewed={c.viewedByMe} aria-current={c.id === current ? 'true' : undefined}>
          <a href={callbackPath(c.id)} className="card-row" onClick={(e) => plainClick(e, () => open(c.id))} aria-label={`Open callback ${c.id}`}>
            <span className="flex min-w-0 items-center gap-2">
              <StatusBadge status={c.status} />
              <span className="min-w-0 truncate font-mono text-sm">{c.eventType}</span>
              <Unknown c={c} />
              {!c.viewedByMe && <span className="new-dot ml-auto">new</span>}
            </span>
            <span className="flex min-w-0 items-center gap-2 text-sm">
              <span className="min-w-0 truncate">{c.workflowName || '—'}</span>
              <span className="ml-auto shrink-0 muted">
                <Time iso={c.createTime} now={now} />
              </span>
            </span>
            {(c.errorMessage || c.stepId) && <span className={`truncate text-xs ${c.errorMessage ? 'preview-error' : 'muted'}`}>{c.errorMessage || `step ${c.stepId}`}</span>}
          </a>
        </li>
      ))}
      {rows.length === 0 && <li className="py-8 text-center muted">{loading ? 'Loading…' : 'No callbacks match.'}</li>}
    </ul>
  );
}
