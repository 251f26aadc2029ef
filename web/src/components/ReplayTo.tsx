import { useId, useState, type FormEvent } from 'react';
import type { Callback, ReplayCallbackResponse } from '@callbackd/client';
import { useSession } from '../session';
import { errorMessage } from '../lib/api';
import { validTarget } from '../lib/curl';
import { errorReason, loadReplayTarget, replayReasonDoc, saveReplayTarget } from '../lib/replay';

/** schemes are the signature schemes a replay can be signed with. */
const schemes = [
  ['llm', 'LLM service (X-Webhook-Signature)'],
  ['standard-webhooks', 'Standard Webhooks'],
  ['github', 'GitHub'],
  ['stripe', 'Stripe'],
] as const;

/** Failure is a refused or unanswered replay, with what the docs say about it. */
interface Failure {
  reason: string;
  message: string;
  explanation: string;
}

/**
 * ReplayTo has the server POST the callback's exact body to a URL of the
 * admin's choice (ReplayCallback) and shows the answer. Unlike Copy as curl,
 * the delivery leaves from the server, under its replay policy; the secret,
 * when given, goes to the server for this one delivery and is never kept.
 * The last URL is remembered in this browser, never the secret.
 */
export function ReplayTo({ callback: c }: { callback: Callback }) {
  const { client } = useSession();
  const id = useId();
  const [url, setUrl] = useState(() => loadReplayTarget(window.localStorage));
  const [secret, setSecret] = useState('');
  const [scheme, setScheme] = useState('llm');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ReplayCallbackResponse | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setResult(null);
    setFailure(null);
    if (!validTarget(url)) {
      setFailure({ reason: 'invalid_replay_target', message: 'The target must be an http:// or https:// URL.', explanation: '' });
      return;
    }
    saveReplayTarget(window.localStorage, url);
    setBusy(true);
    try {
      setResult(await client.replayCallback({ id: c.id, targetUrl: url, secret, signatureScheme: secret ? scheme : '' }));
    } catch (err) {
      const reason = errorReason(err);
      const doc = replayReasonDoc(reason);
      setFailure({ reason, message: errorMessage(err), explanation: doc?.situations.join(' ') ?? '' });
    } finally {
      setBusy(false);
    }
  };
  return (
    <details className="resend" data-testid="replay-to">
      <summary className="font-semibold">Replay to…</summary>
      <p className="text-sm muted">
        The server POSTs this callback&apos;s exact body to the URL and shows the answer. Without a secret the delivery is sent <strong>unsigned</strong>: the
        original signature headers are not kept. Loopback and private addresses are refused unless the server allows them (--replay-allow).
      </p>
      <form onSubmit={(e) => void submit(e)} className="replay-form">
        <label htmlFor={`${id}-url`}>
          Replay to URL
          <input
            id={`${id}-url`}
            className="input font-mono"
            type="url"
            required
            placeholder="https://hooks.example.com/llm"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
          />
        </label>
        <label htmlFor={`${id}-secret`}>
          Re-sign with secret (optional; sent to the server for this delivery only)
          <input id={`${id}-secret`} className="input font-mono" type="password" autoComplete="off" value={secret} onChange={(e) => setSecret(e.target.value)} />
        </label>
        <label htmlFor={`${id}-scheme`}>
          Signature scheme
          <select id={`${id}-scheme`} className="input" value={scheme} disabled={!secret} onChange={(e) => setScheme(e.target.value)}>
            {schemes.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <span className="flex items-end">
          <button type="submit" className="btn" disabled={busy}>
            {busy ? 'Sending…' : 'Send'}
          </button>
        </span>
      </form>
      <div role="status" aria-live="polite">
        {result && <ReplayResult result={result} />}
      </div>
      {failure && (
        <div role="alert" className="replay-error" data-testid="replay-error">
          <p>
            <span className="font-semibold">Not replayed</span>
            {failure.reason && (
              <>
                {' '}
                <code data-testid="replay-reason">{failure.reason}</code>
              </>
            )}
            : <span className="break-words">{failure.message}</span>
          </p>
          {failure.explanation && <p className="text-sm muted">{failure.explanation}</p>}
        </div>
      )}
    </details>
  );
}

/** ReplayResult shows the target's answer: status, latency, headers and the start of the body. */
function ReplayResult({ result: r }: { result: ReplayCallbackResponse }) {
  const ms = r.latency ? Number(r.latency.seconds) * 1000 + r.latency.nanos / 1e6 : 0;
  const ok = r.statusCode >= 200 && r.statusCode < 300;
  return (
    <div className="space-y-2" data-testid="replay-result">
      <p>
        <span className={ok ? 'replay-status-ok' : 'replay-status-bad'} data-testid="replay-status">
          HTTP {r.statusCode}
        </span>{' '}
        in {ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms from <span className="font-mono">{r.remoteAddr}</span> · {Number(r.bodyBytes)} bytes sent ·{' '}
        {r.signatureScheme ? `signed (${r.signatureScheme})` : 'unsigned'}
      </p>
      {r.headers.length > 0 && (
        <dl className="meta" data-testid="replay-headers">
          {r.headers.map((h) => (
            <div key={h.name} className="meta-row">
              <dt>{h.name}</dt>
              <dd className="font-mono break-all">{h.value}</dd>
            </div>
          ))}
        </dl>
      )}
      {r.bodySnippet && (
        <pre className="json-box whitespace-pre-wrap break-all" data-testid="replay-body">
          {r.bodySnippet}
          {r.bodyTruncated ? '\n…' : ''}
        </pre>
      )}
    </div>
  );
}
