import { useCallback, useEffect, useState } from 'react';
import { toJson } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { useSession } from '../session';
import { useLiveEvents } from '../live';
import { errorMessage, type AdminClient } from '../lib/api';
import { isFailure, summarize, type CallbackSummary } from '../lib/events';
import { formatCost, formatDuration, formatTime } from '../lib/format';
import { navigate } from '../lib/router';
import { historyPath } from '../lib/routes';
import { jobTotals, ordered, payloadCost, payloadTokens, type TimelineEntry } from '../lib/timeline';
import { StatusBadge } from './StatusBadge';

type Entry = TimelineEntry & { summary: CallbackSummary };

const maxEntries = 200;

/** loadJob reads every callback of a job with its payload. */
async function loadJob(client: AdminClient, jobId: string): Promise<{ entries: Entry[]; truncated: boolean }> {
  const summaries: CallbackSummary[] = [];
  let pageToken = '';
  do {
    const res = await client.listCallbacks({ externalJobId: jobId, pageSize: 100, pageToken });
    summaries.push(...res.callbacks.map(summarize));
    pageToken = res.nextPageToken;
  } while (pageToken !== '' && summaries.length < maxEntries);
  // Lists carry no payloads; the totals need them.
  const entries = await Promise.all(
    summaries.map(async (s): Promise<Entry> => {
      const full = (await client.getCallback({ id: s.id })).callback;
      const payload = full?.payloadJson ? toJson(ValueSchema, full.payloadJson) : null;
      return { id: s.id, eventType: s.eventType, stepId: s.stepId, createTime: s.createTime, payload, summary: s };
    }),
  );
  return { entries: ordered(entries), truncated: pageToken !== '' };
}

function field(payload: unknown, key: string): unknown {
  return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>)[key] : undefined;
}

/** TimelinePage: one job's callbacks in order, its steps then its outcome, with totals. */
export function TimelinePage({ jobId, open }: { jobId: string; open(id: string): void }) {
  const { client } = useSession();
  const [data, setData] = useState<{ entries: Entry[]; truncated: boolean } | null>(null);
  const [error, setError] = useState('');
  const load = useCallback(() => {
    loadJob(client, jobId).then(setData, (e: unknown) => setError(errorMessage(e)));
  }, [client, jobId]);
  useEffect(load, [load]);
  useLiveEvents((ev) => {
    if (ev.kind !== 'viewed' && ev.callback.jobId === jobId) load();
  });

  const totals = data ? jobTotals(data.entries) : null;
  const workflow = data?.entries.find((e) => e.summary.workflowName)?.summary.workflowName;
  return (
    <section aria-labelledby="timeline-title" className="space-y-4">
      <p>
        <a href={historyPath} className="btn-link text-sm" onClick={(e) => (e.preventDefault(), navigate(historyPath))}>
          ← History
        </a>
      </p>
      <h1 id="timeline-title" className="text-xl font-semibold break-all">
        Job <span className="font-mono">{jobId}</span>
      </h1>
      {workflow && <p className="muted">Workflow {workflow}</p>}
      {error && (
        <p role="alert" className="alert">
          Could not load the job: {error}
        </p>
      )}
      {totals && (
        <dl className="totals" data-testid="totals">
          <div>
            <dt>Tokens</dt>
            <dd data-testid="total-tokens">{totals.tokens.toLocaleString()}</dd>
          </div>
          <div>
            <dt>Cost</dt>
            <dd data-testid="total-cost">{formatCost(totals.costUsd)}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd data-testid="total-duration">{formatDuration(totals.durationMs)}</dd>
          </div>
          <div>
            <dt>LLM steps</dt>
            <dd>{totals.steps}</dd>
          </div>
          <p className="col-span-full text-xs muted">
            {totals.source === 'workflow' ? "From the workflow's final callback." : totals.source === 'steps' ? 'Summed over the steps so far.' : 'No figures in the payloads.'}
          </p>
        </dl>
      )}
      {data && (
        <ol className="timeline" data-testid="timeline">
          {data.entries.map((e) => (
            <li key={e.id} className="timeline-item" data-testid="timeline-item" data-failed={isFailure(e.summary)}>
              <span className={`timeline-dot timeline-${isFailure(e.summary) ? 'failed' : e.eventType === 'llm.step.completed' ? 'step' : 'end'}`} aria-hidden="true" />
              <div className="timeline-head">
                <button type="button" className="btn-link timeline-name font-mono" onClick={() => open(e.id)}>
                  {e.eventType}
                  {e.stepId ? ` · ${e.stepId}` : ''}
                </button>
                <StatusBadge status={e.summary.status} />
                <span className="text-sm muted">{formatTime(e.createTime)}</span>
              </div>
              <p className={isFailure(e.summary) ? 'timeline-error text-sm' : 'text-sm muted'} data-testid="timeline-detail">
                {e.eventType === 'llm.step.completed'
                  ? `${payloadTokens(e.payload).toLocaleString()} tokens · ${formatCost(payloadCost(e.payload))} · ${formatDuration(Number(field(e.payload, 'duration_ms')) || 0)}`
                  : e.eventType === 'workflow.failed'
                    ? String(field(e.payload, 'error_message') ?? 'failed')
                    : typeof field(e.payload, 'duration_ms') === 'number'
                      ? `finished in ${formatDuration(Number(field(e.payload, 'duration_ms')))}`
                      : ''}
              </p>
            </li>
          ))}
          {data.entries.length === 0 && <li className="muted">No callbacks for this job.</li>}
        </ol>
      )}
      {data?.truncated && <p className="text-sm muted">Showing the first {maxEntries} callbacks.</p>}
    </section>
  );
}
