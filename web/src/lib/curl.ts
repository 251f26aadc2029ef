// "Copy as curl": a shell command that re-sends a callback's exact body,
// signed as the LLM service signs (X-Webhook-Signature: sha256=<hex HMAC of
// the raw body>) with a secret the admin types. The HMAC is computed here,
// with WebCrypto: the secret never leaves the browser.

/** shellQuote quotes s for a POSIX shell: single quotes, each ' written as '\''. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** hmacSha256Hex is the lowercase hex HMAC-SHA256 of body under secret (the secret as UTF-8, whitespace trimmed as the sender does). */
export async function hmacSha256Hex(secret: string, body: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('WebCrypto is not available here: it needs HTTPS (or localhost)');
  const key = await subtle.importKey('raw', new TextEncoder().encode(secret.trim()), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await subtle.sign('HMAC', key, body as Uint8Array<ArrayBuffer>));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** CurlInput is what the command sends. */
export interface CurlInput {
  url: string;
  body: Uint8Array;
  signature: string; // hex
  eventType: string;
  userAgent: string;
}

/**
 * curlCommand writes the command. The body goes through printf '%s' to
 * curl's standard input, so that it arrives byte for byte (a here-document
 * would add a newline, and the signature would no longer match).
 */
export function curlCommand(c: CurlInput): string {
  const headers = [
    'Content-Type: application/json',
    `X-Webhook-Signature: sha256=${c.signature}`,
    ...(c.eventType ? [`X-Webhook-Event: ${c.eventType}`] : []),
    ...(c.userAgent ? [`User-Agent: ${c.userAgent}`] : []),
  ];
  return [
    `printf '%s' ${shellQuote(new TextDecoder().decode(c.body))} |`,
    `  curl -sS -X POST ${shellQuote(c.url)} \\`,
    ...headers.map((h) => `  -H ${shellQuote(h)} \\`),
    '  --data-binary @-',
  ].join('\n');
}

/** validTarget accepts http(s) URLs only: a command to another scheme is not what the admin meant. */
export function validTarget(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
