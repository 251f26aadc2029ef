import { useState, type ReactNode } from 'react';
import { toJson } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import type { Callback } from '@callbackd/client';
import { isoTime } from '../lib/events';
import { formatTime } from '../lib/format';
import { navigate } from '../lib/router';
import { CopyAsCurl } from './CopyAsCurl';
import { ReplayTo } from './ReplayTo';
import { JsonPayload } from './JsonPayload';
import { StatusBadge } from './StatusBadge';

/** rawBody is the exact body as received, decoded as UTF-8 for display. */
function rawBody(c: Callback): string {
  return new TextDecoder().decode(c.payload);
}

function parsedPayload(c: Callback): unknown {
  if (c.payloadJson) return toJson(ValueSchema, c.payloadJson);
  try {
    return JSON.parse(rawBody(c)) as unknown;
  } catch {
    return rawBody(c);
  }
}

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** CallbackDetails: the metadata grid and the payload of one callback. */
export function CallbackDetails({ callback: c }: { callback: Callback }) {
  const [copied, setCopied] = useState('');
  const payload = parsedPayload(c);
  const sig = c.signature;
  const doCopy = async (what: string, text: string) => setCopied((await copy(text)) ? `${what} copied.` : `Copying is not available here.`);
  const rows: Array<[string, ReactNode]> = [
    ['Callback ID', <code key="id">{c.id}</code>],
    ['Idempotency key', <code key="key">{c.callbackId}</code>],
    [
      'Job ID',
      c.externalJobId ? (
        <a
          key="job"
          href={`/jobs/${encodeURIComponent(c.externalJobId)}`}
          className="btn-link font-mono"
          onClick={(e) => {
            e.preventDefault();
            // Leaving the callback's URL closes its view.
            navigate(`/jobs/${encodeURIComponent(c.externalJobId)}`);
          }}
        >
          {c.externalJobId}
        </a>
      ) : (
        '—'
      ),
    ],
    ['Workflow', c.workflowName || '—'],
    ['Event', <code key="ev">{c.eventType}</code>],
    ...(c.stepId ? ([['Step', <code key="step">{c.stepId}</code>]] as Array<[string, ReactNode]>) : []),
    ['Status', <StatusBadge key="st" status={c.status} />],
    ...(c.errorMessage ? ([['Error', c.errorMessage]] as Array<[string, ReactNode]>) : []),
    [
      'Signature',
      sig ? (
        <span key="sig" data-testid="signature">
          <span className={sig.valid ? 'sig-ok' : 'sig-bad'}>{sig.valid ? '✓ valid' : '✗ not verified'}</span> · {sig.scheme}
          {sig.keyName ? ` · key ${sig.keyName}` : ''}
        </span>
      ) : (
        '—'
      ),
    ],
    ['Received', formatTime(isoTime(c.createTime))],
    ['Last delivery', formatTime(isoTime(c.lastDeliveryTime))],
    ['Deliveries', <span key="dc" data-testid="delivery-count">{c.deliveryCount}</span>],
    ['User agent', c.userAgent || '—'],
    [
      'Viewed by',
      c.views.length ? (
        <ul key="views" data-testid="viewed-by" className="space-y-0.5">
          {c.views.map((v) => (
            <li key={v.adminId}>
              {v.adminName || v.adminId} <span className="muted">at {formatTime(isoTime(v.viewTime))}</span>
            </li>
          ))}
        </ul>
      ) : (
        <span key="none" data-testid="viewed-by">nobody yet</span>
      ),
    ],
  ];
  return (
    <div className="space-y-4">
      <dl className="meta" data-testid="metadata">
        {rows.map(([k, v]) => (
          <div key={k} className="meta-row">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <section aria-label="Payload" className="space-y-2">
        <div className="flex flex-wrap items-center gap-2">
          <h3 className="font-semibold">Payload</h3>
          <button type="button" className="btn" onClick={() => void doCopy('JSON', JSON.stringify(payload, null, 2))}>
            Copy JSON
          </button>
          <button type="button" className="btn" onClick={() => void doCopy('Raw body', rawBody(c))}>
            Copy raw body
          </button>
          <span role="status" className="text-sm muted">
            {copied}
          </span>
        </div>
        <div className="json-box" data-testid="payload">
          <JsonPayload value={payload} />
        </div>
      </section>
      <CopyAsCurl callback={c} />
      <ReplayTo callback={c} />
    </div>
  );
}
