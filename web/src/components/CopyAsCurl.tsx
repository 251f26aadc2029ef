import { useId, useState, type FormEvent } from 'react';
import type { Callback } from '@callbackd/client';
import { curlCommand, hmacSha256Hex, validTarget } from '../lib/curl';

/**
 * CopyAsCurl builds a command that re-sends the callback's exact body to a
 * URL of the admin's choice, signed with a secret they type. The signature
 * is computed in this browser (WebCrypto); the secret is never sent anywhere.
 */
export function CopyAsCurl({ callback: c }: { callback: Callback }) {
  const id = useId();
  const [url, setUrl] = useState(() => `${window.location.origin}/api/webhooks/llm-callback`);
  const [secret, setSecret] = useState('');
  const [command, setCommand] = useState('');
  const [status, setStatus] = useState('');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!validTarget(url)) {
      setStatus('The target must be an http:// or https:// URL.');
      return;
    }
    if (secret.trim() === '') {
      setStatus('Type the secret to sign with (it stays in this browser).');
      return;
    }
    try {
      const signature = await hmacSha256Hex(secret, c.payload);
      const cmd = curlCommand({ url, body: c.payload, signature, eventType: c.eventType, userAgent: c.userAgent });
      setCommand(cmd);
      try {
        await navigator.clipboard.writeText(cmd);
        setStatus('Command copied.');
      } catch {
        setStatus('Copying is not available here: select the command below.');
      }
    } catch (err) {
      setStatus(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <details className="resend" data-testid="copy-as-curl">
      <summary className="font-semibold">Copy as curl</summary>
      <form onSubmit={(e) => void submit(e)} className="resend-form">
        <label htmlFor={`${id}-url`}>
          Send to
          <input id={`${id}-url`} className="input font-mono" type="url" value={url} onChange={(e) => setUrl(e.target.value)} />
        </label>
        <label htmlFor={`${id}-secret`}>
          Sign with secret (never leaves this browser)
          <input id={`${id}-secret`} className="input font-mono" type="password" autoComplete="off" value={secret} onChange={(e) => setSecret(e.target.value)} />
        </label>
        <span className="flex items-end gap-2">
          <button type="submit" className="btn">
            Copy as curl
          </button>
          <span role="status" className="text-sm muted" data-testid="curl-status">
            {status}
          </span>
        </span>
      </form>
      {command && (
        <pre className="json-box whitespace-pre-wrap break-all" data-testid="curl-command">
          {command}
        </pre>
      )}
    </details>
  );
}
