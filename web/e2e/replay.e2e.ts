// End-to-end: "Replay to…" in real Chromium, against the real server started
// with loopback opened to replays (--replay-allow 127.0.0.0/8), on SQLite and
// PostgreSQL. A receiver started here checks the body byte for byte and the
// signature; a target the policy refuses shows its reason.

import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server as HTTPServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, login, newContext, secret, Server, serverBinary, tokens, type Watched } from './harness';

const databases: Array<[string, string]> = [['sqlite', '']];
const pgURL = process.env.CALLBACKD_E2E_POSTGRES_URL ?? '';
if (pgURL) databases.push(['postgres', pgURL]);

let browser: Browser;
let bin: string;

beforeAll(async () => {
  bin = serverBinary();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

function clean(w: Watched) {
  expect(w.violations, 'CSP violations').toEqual([]);
  expect(w.dialogs, 'dialogs').toEqual([]);
  expect(w.errors, 'page errors').toEqual([]);
}

/** Received is one request the receiver got. */
interface Received {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

/** receiver listens on loopback, records each request and answers 202 with a short text. */
async function receiver(): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const srv: HTTPServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(202, { 'Content-Type': 'text/plain', Server: 'e2e-receiver' });
      res.end('accepted by the e2e receiver');
    });
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}/hooks/llm`, got, close: () => new Promise((ok) => srv.close(() => ok())) };
}

/**
 * postRaw delivers body exactly as given, signed: its spacing and escapes
 * are not what JSON.stringify writes, so a re-serialised replay would differ.
 */
async function postRaw(base: string, body: string): Promise<string> {
  const res = await fetch(`${base}/api/webhooks/llm-callback`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Webhook-Signature': 'sha256=' + createHmac('sha256', secret).update(body).digest('hex'), 'X-Webhook-Event': 'workflow.completed' },
    body,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`webhook: ${res.status} ${text}`);
  return (JSON.parse(text) as { id: string }).id;
}

describe.each(databases)('on %s', (_name, databaseURL) => {
  let server: Server;

  beforeAll(async () => {
    server = new Server(bin, databaseURL, { args: ['--replay-allow', '127.0.0.0/8'] });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
  });

  test('Replay to…: the exact body reaches the receiver, unsigned then signed; the URL is remembered; a refused target shows its reason', async () => {
    const rx = await receiver();
    const job = randomUUID();
    const body = `{"event": "workflow.completed", "job_id": "${job}", "workflow_name": "replay-e2e", "status": "completed", "result": {"text": "caf\\u00e9 \\u2028 <b>x</b>", "n": 1.0}}`;
    const id = await postRaw(server.base, body);
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, server.base, tokens.ui);
    await page.goto(`${server.base}/callbacks`); // the history: the home page is the dashboard
    await page.getByRole('link', { name: `Open callback ${id}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Replay to…', { exact: true }).click();
    const replay = dialog.getByTestId('replay-to');

    // Unsigned: no signature header at all, and the form says so.
    expect(await replay.textContent()).toContain('unsigned');
    await replay.getByLabel('Replay to URL').fill(rx.url);
    await replay.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => replay.getByTestId('replay-status').textContent().catch(() => '')).toBe('HTTP 202');
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.body.equals(Buffer.from(body))).toBe(true);
    expect(rx.got[0]!.headers['x-webhook-signature']).toBeUndefined();
    expect(rx.got[0]!.headers['x-webhook-event']).toBe('workflow.completed');
    const result = (await replay.getByTestId('replay-result').textContent()) ?? '';
    expect(result).toContain('unsigned');
    expect(result).toContain(`${Buffer.byteLength(body)} bytes sent`);
    expect(await replay.getByTestId('replay-body').textContent()).toBe('accepted by the e2e receiver');
    expect(await replay.getByTestId('replay-headers').textContent()).toContain('e2e-receiver');

    // Signed with a secret typed here: the receiver verifies it.
    const receiverSecret = 'receiver-secret-' + randomUUID();
    await replay.getByLabel(/Re-sign with secret/).fill(receiverSecret);
    await replay.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => rx.got.length).toBe(2);
    await expect.poll(() => replay.getByTestId('replay-result').textContent().catch(() => '')).toContain('signed (llm)');
    const signed = rx.got[1]!;
    expect(signed.body.equals(Buffer.from(body))).toBe(true);
    expect(signed.headers['x-webhook-signature']).toBe('sha256=' + createHmac('sha256', receiverSecret).update(signed.body).digest('hex'));

    // The last URL is remembered: the docked view of the same callback
    // offers it again.
    await dialog.getByRole('button', { name: 'Dock beside the list' }).click();
    const dock = page.getByTestId('detail-dock');
    await dock.waitFor();
    await dock.getByText('Replay to…', { exact: true }).click();
    const docked = dock.getByTestId('replay-to');
    expect(await docked.getByLabel('Replay to URL').inputValue()).toBe(rx.url);

    // The cloud metadata address is refused by the policy, and nothing is
    // sent: the reason and the docs' explanation are shown.
    await docked.getByLabel('Replay to URL').fill('http://169.254.169.254/latest/meta-data/');
    await docked.getByRole('button', { name: 'Send' }).click();
    const error = docked.getByTestId('replay-error');
    await error.waitFor();
    expect(await error.getByTestId('replay-reason').textContent()).toBe('replay_target_forbidden');
    const text = (await error.textContent()) ?? '';
    expect(text).toContain('169.254.169.254');
    expect(text).toContain('link-local');
    expect(text).toContain('--replay-allow');
    expect(rx.got).toHaveLength(2);
    // Back to the window to leave the layout as other tests expect it.
    await dock.getByRole('button', { name: 'Open as a window' }).click();
    await dialog.waitFor();

    clean(watched);
    await context.close();
    await rx.close();
  });
});
