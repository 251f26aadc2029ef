import { useCallback, useEffect, useState } from 'react';
import type { AlertDelivery, AlertRule } from '@callbackd/client';
import { useSession } from '../session';
import { errorMessage } from '../lib/api';
import { consoleHref, formatInterval, lastError, statusLook } from '../lib/alerts';
import { isoTime } from '../lib/events';
import { navigate } from '../lib/router';
import { Time, useNow } from './Time';

/** readmeAlerts is the README's section on the alerts configuration. */
const readmeAlerts = 'https://github.com/callbackd/callbackd/blob/main/README.md#alerts';

/** pageSize is how many deliveries a page lists. */
const pageSize = 25;

const example = `channels:
  - name: ops-chat
    slack: {url: "https://hooks.slack.com/services/T000/B000/XXXX"}
rules:
  - name: failed-jobs
    match: {event: workflow.failed}
    channels: [ops-chat]`;

interface Rules {
  enabled: boolean;
  rules: AlertRule[];
}

interface Deliveries {
  /** token is the page token this page was read with ("" for the newest). */
  token: string;
  rows: AlertDelivery[];
  next: string;
}

/**
 * AlertsPage shows, read-only, the alert rules of --alerts-config
 * (ListAlertRules) and the recent deliveries of their alerts
 * (ListAlertDeliveries, newest first): what a rule matches, where it sends,
 * and whether each message got there, with the error of a failed attempt.
 * Without a configuration it says how to write one.
 */
export function AlertsPage() {
  const { client } = useSession();
  const now = useNow();
  const [rules, setRules] = useState<Rules | null>(null);
  const [deliveries, setDeliveries] = useState<Deliveries | null>(null);
  // Tokens of the pages before the one shown, for "Newer".
  const [trail, setTrail] = useState<string[]>([]);
  const [token, setToken] = useState('');
  const [error, setError] = useState('');

  const load = useCallback(async () => {
    try {
      const [r, d] = await Promise.all([client.listAlertRules({}), client.listAlertDeliveries({ pageSize, pageToken: token })]);
      setRules({ enabled: r.enabled, rules: r.rules });
      setDeliveries({ token, rows: d.deliveries, next: d.nextPageToken });
      setError('');
    } catch (e) {
      setError(errorMessage(e));
    }
  }, [client, token]);
  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section aria-labelledby="alerts-title" className="space-y-4" data-testid="alerts" data-loaded={rules !== null && deliveries?.token === token}>
      <div className="flex flex-wrap items-baseline gap-3">
        <h1 id="alerts-title" className="text-xl font-semibold">
          Alerts
        </h1>
        <button type="button" className="btn sm:ml-auto" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <p className="text-sm muted">
        What reaches admins when no console is open: the rules of the alerts configuration and the messages they sent, newest first. Read-only: the rules
        are changed in the configuration file.
      </p>
      {error && (
        <p role="alert" className="alert">
          Could not load the alerts: {error}
        </p>
      )}
      {rules && !rules.enabled && <NotConfigured />}
      {rules?.enabled && <RuleList rules={rules.rules} />}
      {rules?.enabled && deliveries && (
        <DeliveryList
          page={deliveries}
          now={now}
          newer={
            trail.length > 0
              ? () => {
                  setToken(trail[trail.length - 1]!);
                  setTrail(trail.slice(0, -1));
                }
              : null
          }
          older={
            deliveries.next
              ? () => {
                  setTrail([...trail, token]);
                  setToken(deliveries.next);
                }
              : null
          }
        />
      )}
      {!rules && !error && <p className="muted">Loading…</p>}
    </section>
  );
}

/** NotConfigured tells an admin how alerts are turned on. */
function NotConfigured() {
  return (
    <section className="card space-y-3" aria-labelledby="alerts-empty-title" data-testid="alerts-empty">
      <h2 id="alerts-empty-title" className="text-lg font-semibold">
        No alerts configured
      </h2>
      <p className="text-sm">
        This server runs without alert rules. Start it with <code>--alerts-config FILE</code> (or <code>CALLBACKD_ALERTS_CONFIG=FILE</code>), a YAML file of
        channels (Slack-compatible chats, signed webhooks, e-mail) and the rules that send to them. This one posts every failed job to a chat:
      </p>
      <pre className="json-box whitespace-pre-wrap break-all" data-testid="alerts-example">
        {example}
      </pre>
      <p className="text-sm">
        Rules can also count failures, watch a failure rate or report a stuck job: see{' '}
        <a href={readmeAlerts} className="btn-link" target="_blank" rel="noreferrer">
          Alerts in the README
        </a>
        .
      </p>
    </section>
  );
}

function RuleList({ rules }: { rules: AlertRule[] }) {
  return (
    <section className="space-y-2" aria-labelledby="alert-rules-title">
      <h2 id="alert-rules-title" className="text-lg font-semibold">
        Rules
      </h2>
      <div className="table-scroll">
        <table className="table min-w-[48rem]" data-testid="alert-rules">
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Condition</th>
              <th scope="col">Matches</th>
              <th scope="col">Channels</th>
              <th scope="col">Grouping</th>
              <th scope="col" title="Least time between two messages of a group">
                Quiet interval
              </th>
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr key={r.name} data-testid="alert-rule" data-rule={r.name}>
                <th scope="row" className="font-mono text-sm font-normal tracking-normal normal-case">
                  {r.name}
                </th>
                <td>{r.kind}</td>
                <td className="whitespace-normal" data-testid="alert-rule-summary">
                  {r.summary}
                </td>
                <td data-testid="alert-rule-channels">
                  {r.channels.map((c, i) => (
                    <span key={c} className="mr-2 inline-block whitespace-nowrap">
                      <span className="font-mono">{c}</span> <span className="muted">({r.channelKinds[i] ?? '?'})</span>
                    </span>
                  ))}
                </td>
                <td>
                  by {r.groupBy || 'workflow'}, {formatInterval(r.groupWindow)} window
                </td>
                <td data-testid="alert-rule-interval">{formatInterval(r.minInterval)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function DeliveryList({ page, now, newer, older }: { page: Deliveries; now: number; newer: (() => void) | null; older: (() => void) | null }) {
  return (
    <section className="space-y-2" aria-labelledby="alert-deliveries-title">
      <h2 id="alert-deliveries-title" className="text-lg font-semibold">
        Recent deliveries
      </h2>
      {page.rows.length === 0 ? (
        <p className="text-sm muted" data-testid="alert-deliveries-empty">
          No alert sent yet (sent and failed deliveries are kept 7 days).
        </p>
      ) : (
        <div className="table-scroll">
          <table className="table min-w-[64rem]" data-testid="alert-deliveries">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Rule</th>
                <th scope="col">Channel</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Alert</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {page.rows.map((d) => {
                const look = statusLook(d.status);
                const err = lastError(d.errors);
                const href = consoleHref(d.link);
                return (
                  <tr key={String(d.id)} data-testid="alert-delivery" data-rule={d.rule} data-channel={d.channel} data-status={d.status}>
                    <td>
                      <Time iso={isoTime(d.createTime)} now={now} />
                    </td>
                    <td className="font-mono">{d.rule}</td>
                    <td className="font-mono">{d.channel}</td>
                    <td>
                      <span className={`badge ${look.tone}`} title={look.help} data-testid="alert-delivery-status">
                        <span aria-hidden="true">{look.symbol}</span> {look.label}
                      </span>
                    </td>
                    <td className="tabular-nums" data-testid="alert-delivery-attempts">
                      {d.attempts} / {d.maxAttempts}
                    </td>
                    <td className="cell-clip max-w-[22rem]" title={d.title}>
                      {d.state === 'resolved' && <span className="badge badge-green mr-1">resolved</span>}
                      {href ? (
                        <a
                          href={href}
                          className="btn-link"
                          data-testid="alert-delivery-link"
                          onClick={(e) => {
                            if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
                            e.preventDefault();
                            navigate(href);
                          }}
                        >
                          {d.title || 'Open'}
                        </a>
                      ) : (
                        d.title
                      )}
                    </td>
                    <td className="cell-clip max-w-[18rem]" title={err} data-testid="alert-delivery-error">
                      {err || <span className="muted">—</span>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <nav aria-label="Delivery pages" className="flex flex-wrap gap-2">
        {newer && (
          <button type="button" className="btn" onClick={newer}>
            ← Newer
          </button>
        )}
        {older && (
          <button type="button" className="btn" onClick={older}>
            Older →
          </button>
        )}
      </nav>
    </section>
  );
}
