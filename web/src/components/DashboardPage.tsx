import { useCallback, useEffect, useId, useMemo, useRef, useState, type ReactNode } from 'react';
import 'uplot/dist/uPlot.min.css';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { GetCallbackStatsRequestSchema, StatsBucket, type GetCallbackStatsResponse } from '@callbackd/client';
import { useSession } from '../session';
import { useLiveEvents } from '../live';
import { errorMessage } from '../lib/api';
import { fromLocalInput, searchFromFilters, toLocalInput, type Filters } from '../lib/filters';
import { formatCost, formatCount, formatDuration } from '../lib/format';
import { navigate } from '../lib/router';
import { bucketFilters, categories, categoryFilters, formatRate, presets, queryFromSearch, rangeOf, rows, searchFromQuery, segmentAt, stacked, type DashboardQuery, type Range, type Row, type Segment } from '../lib/stats';
import { dashboardHref, historyHref } from '../lib/routes';
import { Chart, type ChartSeries } from './Chart';
import { EmptyState } from './EmptyState';
import { SendTestCallback } from './SendTestCallback';

/** topWorkflows is how many workflows get their own tokens-and-cost rows per day. */
const topWorkflows = 5;

interface Data {
  key: string;
  range: Range;
  stats: GetCallbackStatsResponse;
  rows: Row[];
  /** daily: per workflow, its figures per day. */
  daily: Array<{ workflow: string; rows: Row[] }>;
  dayRange: Range;
  /** none: the server has no callbacks at all (a first-time admin's console). */
  none: boolean;
}

const colours = { received: '#3b82f6', processed: '#16a34a', error: '#dc2626', p50: '#0ea5e9', p95: '#a855f7' };
const workflowColours = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#db2777'];

function statsRequest(r: Range, workflow: string) {
  return create(GetCallbackStatsRequestSchema, { createTimeAfter: timestampFromDate(r.after), createTimeBefore: timestampFromDate(r.before), bucket: r.bucket, workflowName: workflow });
}

function bucketLabel(start: number, r: Range): string {
  const d = new Date(start);
  return r.bucket === StatsBucket.DAY ? d.toLocaleDateString(undefined, { dateStyle: 'medium' }) : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

/**
 * DashboardPage: how the LLM jobs are doing over a time range, from
 * GetCallbackStats: callbacks per bucket by status (stacked; a bar opens the
 * history of its bucket), failure rate, failures by error category, tokens
 * and cost per workflow per day, job duration p50/p95, and every number
 * again in a table. It reloads as callbacks arrive.
 */
export default function DashboardPage({ search, developmentSecret }: { search: string; developmentSecret: boolean }) {
  const { client } = useSession();
  const query = queryFromSearch(search);
  const key = searchFromQuery(query);
  const [data, setData] = useState<Data | null>(null);
  const [workflows, setWorkflows] = useState<string[]>([]);
  const [error, setError] = useState('');

  const load = useCallback(async () => {
    const q = queryFromSearch(key);
    const range = rangeOf(q, Date.now());
    try {
      const stats = await client.getCallbackStats(statsRequest(range, q.workflow));
      // Tokens and cost per workflow per day: the busiest workflows, by day.
      const dayRange: Range = { ...rangeOf({ ...q, preset: q.preset === '24h' ? '7d' : q.preset }, Date.now()), bucket: StatsBucket.DAY, bucketMs: 86_400_000 };
      dayRange.after = new Date(Math.floor(dayRange.after.getTime() / 86_400_000) * 86_400_000);
      dayRange.before = new Date(Math.ceil(dayRange.before.getTime() / 86_400_000) * 86_400_000);
      const names = q.workflow ? [q.workflow] : [...stats.workflows].sort((a, b) => Number((b.stats?.count ?? 0n) - (a.stats?.count ?? 0n))).slice(0, topWorkflows).map((w) => w.workflowName);
      const daily = await Promise.all(
        names.map(async (workflow) => {
          const res = await client.getCallbackStats(statsRequest(dayRange, workflow));
          return { workflow, rows: rows(dayRange, res.buckets) };
        }),
      );
      // Nothing in the range: is there anything at all? A first-time admin
      // gets the steps to a first callback here, on the home page.
      const none = (stats.total?.count ?? 0n) === 0n && (await client.listCallbacks({ pageSize: 1 })).callbacks.length === 0;
      setData({ key, range, stats, rows: rows(range, stats.buckets), daily, dayRange, none });
      if (!q.workflow) setWorkflows(stats.workflows.map((w) => w.workflowName).filter(Boolean));
      setError('');
    } catch (e) {
      setError(errorMessage(e));
    }
  }, [client, key]);
  useEffect(() => {
    void load();
  }, [load]);
  // Live: a burst of callbacks costs one reload.
  const reload = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(reload.current), []);
  useLiveEvents((ev) => {
    if (ev.kind === 'viewed') return;
    clearTimeout(reload.current);
    reload.current = setTimeout(() => void load(), 1000);
  });

  const go = (q: DashboardQuery) => navigate(dashboardHref(searchFromQuery(q)));
  const openBucket = (r: Range, start: number, workflow: string, status: Segment | '' = '') => navigate(historyHref(searchFromFilters(bucketFilters(r, start, workflow, status))));
  const total = data?.stats.total;
  return (
    <section aria-labelledby="dashboard-title" className="space-y-4" data-testid="dashboard" data-loaded={data?.key === key}>
      <div className="flex flex-wrap items-center gap-3">
        <h1 id="dashboard-title" className="text-xl font-semibold">
          Dashboard
        </h1>
        <RangePicker query={query} onChange={go} />
        <WorkflowFilter query={query} workflows={workflows} onChange={go} />
      </div>
      {error && (
        <p role="alert" className="alert">
          Could not load the statistics: {error}
        </p>
      )}
      {data?.none && (
        <>
          <div>
            <SendTestCallback />
          </div>
          <EmptyState developmentSecret={developmentSecret} />
        </>
      )}
      {data && total && (
        <>
          <dl className="tiles" data-testid="tiles">
            <Tile label="Callbacks" value={formatCount(total.count)} testId="tile-count" />
            <Tile label="Failure rate" value={formatRate(Number(total.count) > 0 ? Number(total.byStatus.error ?? 0n) / Number(total.count) : null)} testId="tile-failure-rate" />
            <Tile label="LLM tokens" value={formatCount(total.totalTokens)} testId="tile-tokens" />
            <Tile label="Cost" value={formatCost(total.costUsd)} testId="tile-cost" />
            <Tile label="Duration p50" value={total.durationCount > 0n ? formatDuration(Number(total.durationP50Ms)) : '—'} testId="tile-p50" />
            <Tile label="Duration p95" value={total.durationCount > 0n ? formatDuration(Number(total.durationP95Ms)) : '—'} testId="tile-p95" />
          </dl>
          <Charts data={data} workflow={query.workflow} openBucket={openBucket} />
          <FailureCategories data={data} workflow={query.workflow} />
          <WorkflowDaily data={data} />
          <details className="filters-box" data-testid="stats-table">
            <summary className="filters-summary">The numbers as a table</summary>
            <div className="table-scroll rounded-none border-0">
              <table className="table min-w-[44rem]">
                <caption className="sr-only">Callbacks per {data.range.bucket === StatsBucket.DAY ? 'day' : 'hour'}</caption>
                <thead>
                  <tr>
                    <th scope="col">{data.range.bucket === StatsBucket.DAY ? 'Day' : 'Hour'}</th>
                    <th scope="col">Received</th>
                    <th scope="col">Processed</th>
                    <th scope="col">Error</th>
                    <th scope="col">Failure rate</th>
                    <th scope="col">Tokens</th>
                    <th scope="col">Cost</th>
                    <th scope="col">p50</th>
                    <th scope="col">p95</th>
                  </tr>
                </thead>
                <tbody>
                  {data.rows
                    .filter((r) => r.count > 0)
                    .map((r) => (
                      <tr key={r.start} data-testid="stats-row" data-start={new Date(r.start).toISOString()}>
                        <th scope="row" className="text-sm font-normal tracking-normal normal-case">
                          <HistoryLink filters={bucketFilters(data.range, r.start, query.workflow, '')}>{bucketLabel(r.start, data.range)}</HistoryLink>
                        </th>
                        {(['received', 'processed', 'error'] as const).map((status) => (
                          <td key={status} data-status-count={status}>
                            {r[status] > 0 ? (
                              <HistoryLink filters={bucketFilters(data.range, r.start, query.workflow, status)} label={`${formatCount(r[status])} ${status}, ${bucketLabel(r.start, data.range)}`}>
                                {formatCount(r[status])}
                              </HistoryLink>
                            ) : (
                              '0'
                            )}
                          </td>
                        ))}
                        <td>{formatRate(r.failureRate)}</td>
                        <td>{formatCount(r.tokens)}</td>
                        <td>{formatCost(r.costUsd)}</td>
                        <td>{r.p50 === null ? '—' : formatDuration(r.p50)}</td>
                        <td>{r.p95 === null ? '—' : formatDuration(r.p95)}</td>
                      </tr>
                    ))}
                  {data.rows.every((r) => r.count === 0) && (
                    <tr>
                      <td colSpan={9} className="py-6 text-center muted">
                        No callbacks in this range.
                      </td>
                    </tr>
                  )}
                </tbody>
              </table>
            </div>
          </details>
        </>
      )}
      {!data && !error && <p className="muted">Loading…</p>}
    </section>
  );
}

/** HistoryLink opens the history filtered to what a number counts: a link, so it is a Tab stop and opens in a new tab too. */
function HistoryLink({ filters, label, className = 'btn-link', children }: { filters: Filters; label?: string; className?: string; children: ReactNode }) {
  const href = historyHref(searchFromFilters(filters));
  return (
    <a
      href={href}
      className={className}
      aria-label={label}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}

function Tile({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}

function Charts({ data, workflow, openBucket }: { data: Data; workflow: string; openBucket(r: Range, start: number, workflow: string, status: Segment | ''): void }) {
  const x = useMemo(() => data.rows.map((r) => r.start), [data]);
  const byStatus = useMemo<ChartSeries[]>(() => {
    const s = stacked(data.rows);
    // Drawn tallest first, so each status shows as its own band.
    return [
      { label: 'received', colour: colours.received, values: s.received, shown: (i) => String(data.rows[i]?.received ?? 0), kind: 'bars' },
      { label: 'processed', colour: colours.processed, values: s.processed, shown: (i) => String(data.rows[i]?.processed ?? 0), kind: 'bars' },
      { label: 'error', colour: colours.error, values: s.error, shown: (i) => String(data.rows[i]?.error ?? 0), kind: 'bars' },
    ];
  }, [data]);
  const rate = useMemo<ChartSeries[]>(() => [{ label: 'failure rate', colour: colours.error, values: data.rows.map((r) => (r.failureRate === null ? null : r.failureRate * 100)), kind: 'line' }], [data]);
  const durations = useMemo<ChartSeries[]>(
    () => [
      { label: 'p50', colour: colours.p50, values: data.rows.map((r) => r.p50), kind: 'line' },
      { label: 'p95', colour: colours.p95, values: data.rows.map((r) => r.p95), kind: 'line' },
    ],
    [data],
  );
  const unit = data.range.bucket === StatsBucket.DAY ? 'day' : 'hour';
  const total = data.stats.total;
  const percent = useCallback((v: number) => `${Math.round(v)} %`, []);
  const ms = useCallback((v: number) => formatDuration(v), []);
  return (
    <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
      <figure className="panel lg:col-span-2">
        <figcaption className="panel-title">Callbacks per {unit} by status (click a band of a bar for those callbacks)</figcaption>
        <Chart
          testId="chart-status"
          x={x}
          bucketMs={data.range.bucketMs}
          series={byStatus}
          height={220}
          label={`Callbacks per ${unit}, stacked by status: ${formatCount(total?.count ?? 0n)} in all, ${formatCount(total?.byStatus.error ?? 0n)} failed. The table below has the numbers.`}
          onPick={(i, y) => {
            const r = data.rows[i];
            if (r && r.count > 0) openBucket(data.range, r.start, workflow, segmentAt(r, y));
          }}
        />
      </figure>
      <figure className="panel">
        <figcaption className="panel-title">Failure rate per {unit}</figcaption>
        <Chart testId="chart-failure-rate" x={x} bucketMs={data.range.bucketMs} series={rate} label={`Failure rate per ${unit}; the table below has the numbers.`} yFormat={percent} />
      </figure>
      <figure className="panel">
        <figcaption className="panel-title">Job duration per {unit} (p50, p95)</figcaption>
        <Chart testId="chart-duration" x={x} bucketMs={data.range.bucketMs} series={durations} label={`Job duration p50 and p95 per ${unit}; the table below has the numbers.`} yFormat={ms} />
      </figure>
    </div>
  );
}

/**
 * FailureCategories: a bar per error category, each a link to those
 * failures in the history (a search for the category: see categoryFilters).
 */
function FailureCategories({ data, workflow }: { data: Data; workflow: string }) {
  const cats = categories(data.stats.total);
  const max = Math.max(1, ...cats.map((c) => c.count));
  return (
    <section className="panel" aria-labelledby="categories-title">
      <h2 id="categories-title" className="panel-title">
        Failures by error category
      </h2>
      {cats.length === 0 ? (
        <p className="text-sm muted">No failures in this range.</p>
      ) : (
        <ul className="space-y-1" data-testid="failure-categories">
          {cats.map((c) => (
            <li key={c.category} data-category={c.category}>
              <HistoryLink className="category-row category-link" filters={categoryFilters(data.range, workflow, c.category)} label={`${c.category}: ${formatCount(c.count)} failures; open them in the history`}>
                <span className="min-w-0 truncate font-mono text-sm" title={c.category}>
                  {c.category}
                </span>
                <span className="category-track" aria-hidden="true">
                  <span className="category-bar" style={{ width: `${(100 * c.count) / max}%` }} />
                </span>
                <span className="text-sm tabular-nums">{formatCount(c.count)}</span>
              </HistoryLink>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function WorkflowDaily({ data }: { data: Data }) {
  const x = useMemo(() => data.daily[0]?.rows.map((r) => r.start) ?? [], [data]);
  const series = useMemo<ChartSeries[]>(() => data.daily.map((w, i) => ({ label: w.workflow || '(none)', colour: workflowColours[i % workflowColours.length]!, values: w.rows.map((r) => r.tokens), kind: 'line' as const })), [data]);
  const days = data.daily[0]?.rows ?? [];
  if (data.daily.length === 0) return null;
  return (
    <section className="panel space-y-3" aria-labelledby="workflow-daily-title">
      <h2 id="workflow-daily-title" className="panel-title">
        LLM tokens and cost per workflow per day
      </h2>
      <Chart testId="chart-workflow-tokens" x={x} bucketMs={86_400_000} series={series} label="LLM tokens per workflow per day; the table beside has the numbers." />
      <div className="table-scroll">
        <table className="table min-w-[36rem]" data-testid="workflow-daily">
          <caption className="sr-only">Tokens and cost per workflow per day</caption>
          <thead>
            <tr>
              <th scope="col">Workflow</th>
              {days.map((d) => (
                <th scope="col" key={d.start}>
                  {new Date(d.start).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' })}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.daily.map((w) => (
              <tr key={w.workflow} data-workflow={w.workflow}>
                <th scope="row" className="cell-clip text-sm font-normal tracking-normal normal-case" title={w.workflow}>
                  {w.workflow || '(none)'}
                </th>
                {w.rows.map((r) => (
                  <td key={r.start} className="tabular-nums">
                    {r.tokens > 0 || r.costUsd > 0 ? (
                      <>
                        {formatCount(r.tokens)} <span className="muted">· {formatCost(r.costUsd)}</span>
                      </>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function RangePicker({ query, onChange }: { query: DashboardQuery; onChange(q: DashboardQuery): void }) {
  const id = useId();
  const [after, setAfter] = useState(query.after);
  const [before, setBefore] = useState(query.before);
  useEffect(() => {
    setAfter(query.after);
    setBefore(query.before);
  }, [query.after, query.before]);
  const [custom, setCustom] = useState(query.preset === 'custom');
  return (
    <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Time range">
      {presets.map((p) => (
        <button key={p.id} type="button" className="btn" aria-pressed={query.preset === p.id && !custom} onClick={() => (setCustom(false), onChange({ ...query, preset: p.id, after: '', before: '' }))}>
          {p.label}
        </button>
      ))}
      <button type="button" className="btn" aria-pressed={custom || query.preset === 'custom'} onClick={() => setCustom(true)}>
        Custom
      </button>
      {(custom || query.preset === 'custom') && (
        <form
          className="flex flex-wrap items-center gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            if (after && before && after < before) onChange({ ...query, preset: 'custom', after, before });
          }}
        >
          <label htmlFor={`${id}-from`} className="sr-only">
            From
          </label>
          <input id={`${id}-from`} className="input" type="datetime-local" step="1" value={toLocalInput(after)} onChange={(e) => setAfter(fromLocalInput(e.target.value))} />
          <span aria-hidden="true">→</span>
          <label htmlFor={`${id}-until`} className="sr-only">
            Until
          </label>
          <input id={`${id}-until`} className="input" type="datetime-local" step="1" value={toLocalInput(before)} onChange={(e) => setBefore(fromLocalInput(e.target.value))} />
          <button type="submit" className="btn-primary">
            Show
          </button>
        </form>
      )}
    </div>
  );
}

function WorkflowFilter({ query, workflows, onChange }: { query: DashboardQuery; workflows: string[]; onChange(q: DashboardQuery): void }) {
  const id = useId();
  const options = query.workflow && !workflows.includes(query.workflow) ? [query.workflow, ...workflows] : workflows;
  return (
    <label htmlFor={id} className="flex items-center gap-1.5 text-sm sm:ml-auto">
      <span className="muted">Workflow</span>
      <select id={id} className="input max-w-[min(16rem,60vw)] truncate" value={query.workflow} onChange={(e) => onChange({ ...query, workflow: e.target.value })} data-testid="dashboard-workflow">
        <option value="">all</option>
        {options.map((w) => (
          <option key={w} value={w}>
            {w}
          </option>
        ))}
      </select>
    </label>
  );
}
