import type { CallbackSummary } from '../lib/events';
import { formatTime, shortId } from '../lib/format';
import { navigate } from '../lib/router';
import { StatusBadge } from './StatusBadge';

/**
 * CallbackTable lists callbacks; a row opens the detail window. On narrow
 * screens the table scrolls sideways inside its own box, not the page.
 */
export function CallbackTable({ rows, loading, open }: { rows: CallbackSummary[]; loading: boolean; open(id: string): void }) {
  return (
    <div className="table-scroll" data-testid="table-scroll">
      <table className="table" data-testid="history-table">
        <caption className="sr-only">Callbacks, newest first. Open one to see its details.</caption>
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">Event</th>
            <th scope="col">Workflow</th>
            <th scope="col">Job</th>
            <th scope="col">Status</th>
            <th scope="col">Received</th>
            <th scope="col">Preview</th>
            <th scope="col">Viewed</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.id} data-testid="history-row" data-id={c.id} data-job={c.jobId} data-viewed={c.viewedByMe} onClick={() => open(c.id)} className="row">
              <td>
                <button
                  type="button"
                  className="btn-link font-mono"
                  onClick={(e) => (e.stopPropagation(), open(c.id))}
                  aria-label={`Open callback ${c.id}`}
                  title={c.id}
                >
                  {shortId(c.id)}
                </button>
              </td>
              <td className="font-mono whitespace-nowrap">{c.eventType}</td>
              <td>{c.workflowName || '—'}</td>
              <td className="font-mono">
                {c.jobId ? (
                  <a
                    href={`/jobs/${encodeURIComponent(c.jobId)}`}
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
              <td className="whitespace-nowrap">{formatTime(c.createTime)}</td>
              <td className="preview font-mono" title={c.preview}>
                {c.preview}
              </td>
              <td data-testid="viewed-cell">{c.viewedByMe ? <span aria-label="viewed by you">✓ viewed</span> : <span className="new-dot">new</span>}</td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td colSpan={8} className="py-8 text-center muted">
                {loading ? 'Loading…' : 'No callbacks match.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
