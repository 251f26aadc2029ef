// The empty history's first steps: a shell command that signs a sample
// callback as the LLM service does (openssl's HMAC-SHA256 over the exact
// body) and posts it to this server's webhook.

import { shellQuote } from './curl';

/** developmentSecret is the LLM service's public default secret, accepted only by a server on loopback without its own secret. */
export const developmentSecret = 'default-webhook-secret-change-in-production';

/** webhookURL is this server's webhook route. */
export function webhookURL(origin: string): string {
  return `${origin}/api/webhooks/llm-callback`;
}

/** firstCallbackCommand writes the command; secret is what to sign with (a placeholder when the admin must fill it in). */
export function firstCallbackCommand(origin: string, secret: string, jobId: string): string {
  const body = JSON.stringify({ event: 'workflow.completed', job_id: jobId, status: 'completed', workflow_name: 'hello-callbackd', result: { text: 'Hello from curl' } });
  return [
    `SECRET=${shellQuote(secret)}`,
    `BODY=${shellQuote(body)}`,
    `SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)`,
    `curl -sS -X POST ${shellQuote(webhookURL(origin))} -H 'Content-Type: application/json' -H 'X-Webhook-Event: workflow.completed' -H "X-Webhook-Signature: sha256=$SIG" --data-binary "$BODY"`,
  ].join('\n');
}
