import { useMemo, useState } from 'react';
import { developmentSecret as devSecret, firstCallbackCommand, webhookURL } from '../lib/firstCallback';

function newJobId(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : '7b0c5bd8-54a6-4f7a-9a8e-0f3f1c0b7a11';
}

/**
 * EmptyState tells a first-time admin how callbacks arrive: the webhook URL,
 * where the secret is set, and a command that sends a signed one (or the
 * "Send test callback" button above).
 */
export function EmptyState({ developmentSecret }: { developmentSecret: boolean }) {
  const origin = window.location.origin;
  const command = useMemo(() => firstCallbackCommand(origin, developmentSecret ? devSecret : 'your-webhook-secret', newJobId()), [origin, developmentSecret]);
  const [copied, setCopied] = useState('');
  return (
    <section className="card space-y-3" aria-labelledby="empty-title" data-testid="empty-state">
      <h2 id="empty-title" className="text-lg font-semibold">
        No callbacks yet
      </h2>
      <p className="text-sm">
        Point the LLM service at this server&apos;s webhook: <code data-testid="webhook-url">{webhookURL(origin)}</code>
      </p>
      <p className="text-sm">
        It signs with its <code>LLM_WEBHOOK_SECRET</code> (or the job&apos;s own <code>webhook_secret</code>); give callbackd the same secret with{' '}
        <code>--webhook-secret NAME=SECRET</code> (or the environment variable <code>LLM_WEBHOOK_SECRET</code>).
        {developmentSecret && ' This server has none and accepts the public development secret, which the command below uses.'}
      </p>
      <p className="text-sm">
        Try it with <strong>Send test callback</strong> above, or send one yourself{developmentSecret ? '' : ' (put your secret in SECRET)'}:
      </p>
      <pre className="json-box whitespace-pre-wrap break-all" data-testid="first-callback-command">
        {command}
      </pre>
      <p className="flex items-center gap-2">
        <button
          type="button"
          className="btn"
          onClick={() =>
            void navigator.clipboard.writeText(command).then(
              () => setCopied('Command copied.'),
              () => setCopied('Copying is not available here: select the command above.'),
            )
          }
        >
          Copy command
        </button>
        <span role="status" className="text-sm muted">
          {copied}
        </span>
      </p>
    </section>
  );
}
