// The e2e harness: the real callbackd binary on a real database, signed
// webhooks as the LLM service sends them, and real Chromium.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const secret = 'e2e-webhook-secret-0123456789';
export const tokens = { ui: 'ui-admin-token-0123456789abcdef', other: 'other-admin-token-0123456789abcd' };
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const repoRoot = resolve(import.meta.dirname, '..', '..');

/** serverBinary is CALLBACKD_BIN, or a fresh build of ./cmd/callbackd. */
export function serverBinary(): string {
  const fromEnv = process.env.CALLBACKD_BIN;
  if (fromEnv) return fromEnv;
  const out = join(mkdtempSync(join(tmpdir(), 'callbackd-e2e-bin-')), 'callbackd');
  execFileSync('go', ['build', '-o', out, './cmd/callbackd'], { cwd: repoRoot, stdio: 'inherit' });
  return out;
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

/** Server is one callbackd process that can be stopped and started again on the same port and data. */
export class Server {
  private proc: ChildProcess | null = null;
  private log = '';
  readonly dataDir = mkdtempSync(join(tmpdir(), 'callbackd-e2e-data-'));
  base = '';
  private port = 0;

  constructor(
    private readonly bin: string,
    private readonly databaseURL: string,
    /** developmentSecret starts without --webhook-secret: the server then accepts the sender's public development secret. */
    private readonly options: { developmentSecret?: boolean; port?: number; args?: string[] } = {},
  ) {}

  async start(): Promise<void> {
    if (this.port === 0) this.port = this.options.port ?? (await freePort());
    this.base = `http://127.0.0.1:${this.port}`;
    const args = [
      '--addr',
      `127.0.0.1:${this.port}`,
      '--data-dir',
      this.dataDir,
      ...(this.options.developmentSecret ? [] : ['--webhook-secret', `main=${secret}`]),
      '--admin-token',
      `ui=${tokens.ui}`,
      '--admin-token',
      `other=${tokens.other}`,
      '--log-level',
      'warn',
      '--shutdown-timeout',
      '2s',
    ];
    if (this.databaseURL) args.push('--database-url', this.databaseURL);
    args.push(...(this.options.args ?? []));
    const proc = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (b: Buffer) => (this.log += b.toString()));
    proc.stderr?.on('data', (b: Buffer) => (this.log += b.toString()));
    this.proc = proc;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`callbackd exited (${proc.exitCode}):\n${this.log}`);
      try {
        if ((await fetch(`${this.base}/readyz`)).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`callbackd did not become ready:\n${this.log}`);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
    this.proc = null;
  }

  output(): string {
    return this.log;
  }
}

/** Posted is what the webhook route answered. */
export interface Posted {
  id: string;
  jobId: string;
}

/** postCallback signs body exactly as the LLM service does and posts it. */
export async function postCallback(base: string, payload: Record<string, unknown>): Promise<Posted> {
  const body = JSON.stringify(payload);
  const signature = 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
  const res = await fetch(`${base}/api/webhooks/llm-callback`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Webhook-Signature': signature, 'X-Webhook-Event': String(payload.event), 'User-Agent': 'LLM Service/e2e' },
    body,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`webhook: ${res.status} ${text}`);
  const { id } = JSON.parse(text) as { id: string };
  return { id, jobId: String(payload.job_id) };
}

/** Refused is what the webhook answered a delivery it refused. */
export interface Refused {
  status: number;
  reason: string;
  requestId: string;
}

/**
 * postRefused posts a delivery the webhook must refuse: signed with
 * signWith (null: no signature header), and returns the answer.
 */
export async function postRefused(base: string, payload: Record<string, unknown>, signWith: string | null): Promise<Refused> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'LLM Service/e2e' };
  if (signWith !== null) headers['X-Webhook-Signature'] = 'sha256=' + createHmac('sha256', signWith).update(body).digest('hex');
  const res = await fetch(`${base}/api/webhooks/llm-callback`, { method: 'POST', headers, body });
  const text = await res.text();
  if (res.ok) throw new Error(`webhook accepted what it should refuse: ${res.status} ${text}`);
  return { status: res.status, reason: (JSON.parse(text) as { reason: string }).reason, requestId: res.headers.get('X-Request-Id') ?? '' };
}

export function completed(jobId = randomUUID(), extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event: 'workflow.completed',
    job_id: jobId,
    status: 'completed',
    workflow_name: 'summarise',
    result: { summary: 'Three bullet points about the quarterly report.', confidence: 0.93 },
    cost_data: { total_tokens: 1234, cost_usd: 0.0123, llm_calls: [] },
    duration_ms: 4321,
    timestamp: '2025-12-20T10:30:00.123456+00:00Z',
    ...extra,
  };
}

export function step(jobId: string, stepId: string, tokens: number): Record<string, unknown> {
  return {
    event: 'llm.step.completed',
    job_id: jobId,
    workflow_name: 'summarise',
    step_id: stepId,
    result: { text: `output of ${stepId}` },
    tokens: { prompt_tokens: tokens - 100, completion_tokens: 100, total_tokens: tokens },
    cost_usd: 0.002,
    duration_ms: 900,
    timestamp: '2025-12-20T10:29:00.000000+00:00Z',
  };
}

export function failed(jobId = randomUUID()): Record<string, unknown> {
  return {
    event: 'workflow.failed',
    job_id: jobId,
    status: 'failed',
    workflow_name: 'translate',
    error_message: 'LLM provider timed out after 3 retries',
    error: { type: 'TimeoutError', category: 'provider', retryable: true },
    duration_ms: 30_500,
    timestamp: '2025-12-20T10:31:00.000000+00:00Z',
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (apt-get install -y chromium)`);
  // launch() gives every run a fresh, temporary user-data-dir.
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Watched records what must never happen in a page: CSP violations, dialogs, page errors. */
export interface Watched {
  violations: string[];
  dialogs: string[];
  errors: string[];
}

/** newContext opens a browser context that records CSP violations and dialogs. */
export async function newContext(browser: Browser, options: Parameters<Browser['newContext']>[0] = {}): Promise<{ context: BrowserContext; watched: Watched }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const watched: Watched = { violations: [], dialogs: [], errors: [] };
  // Injected by the browser itself (not subject to the page's CSP).
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  context.on('page', (page) => watchPage(page, watched));
  return { context, watched };
}

function watchPage(page: Page, watched: Watched): void {
  page.on('console', (m) => {
    const text = m.text();
    if (/Content.Security.Policy|CSP violation/i.test(text)) watched.violations.push(text);
  });
  page.on('dialog', (d) => {
    watched.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => watched.errors.push(e.message));
}

/**
 * login logs a page in with a token and waits for the live stream. A page of
 * a browser context that is already signed in (the session cookie is shared
 * by every tab) goes straight to the console.
 */
export async function login(page: Page, base: string, token: string): Promise<void> {
  await page.goto(base);
  const live = page.getByTestId('connection').and(page.locator('[data-status="live"]'));
  const form = page.getByLabel('Admin token or login URL');
  await live.or(form).first().waitFor({ timeout: 15_000 });
  if (await form.isVisible()) {
    await form.fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
  }
  await live.waitFor({ timeout: 15_000 });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function screenshotDir(): string | null {
  const dir = process.env.CALLBACKD_SCREENSHOT_DIR;
  if (!dir) return null;
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Provider is the real OpenID Provider of tools/oidcprovider (zitadel/oidc's example OP) on loopback. */
export class Provider {
  private proc: ChildProcess | null = null;
  private log = '';
  issuer = '';

  /** start runs it with a client whose redirect and post-logout URLs are given, and waits for its issuer. */
  async start(redirects: string[], postLogout: string[]): Promise<void> {
    let bin = process.env.OIDC_PROVIDER_BIN;
    if (!bin) {
      bin = join(mkdtempSync(join(tmpdir(), 'oidcprovider-')), 'oidcprovider');
      execFileSync('go', ['build', '-o', bin, '.'], { cwd: join(repoRoot, 'tools', 'oidcprovider'), stdio: 'inherit' });
    }
    const args = [...redirects.flatMap((r) => ['-redirect', r]), ...postLogout.flatMap((r) => ['-post-logout', r])];
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stderr?.on('data', (b: Buffer) => (this.log += b.toString()));
    this.issuer = await new Promise<string>((ok, fail) => {
      let out = '';
      proc.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /issuer=(\S+)/.exec(out);
        if (m?.[1]) ok(m[1]);
      });
      proc.once('exit', (code) => fail(new Error(`oidcprovider exited (${code}):\n${this.log}`)));
    });
  }

  stop(): void {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGTERM');
    this.proc = null;
  }
}

/**
 * AlertReceiver is an HTTP receiver for alert channels on loopback: it
 * records what is posted to it, and answers 500 on paths under /down (a
 * receiver that is out, so that deliveries to it fail and retry).
 */
export class AlertReceiver {
  private readonly server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      this.received.push({ path, body: Buffer.concat(chunks).toString() });
      if (path.startsWith('/down')) {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('receiver down for maintenance');
      } else {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      }
    });
  });
  readonly received: Array<{ path: string; body: string }> = [];
  base = '';

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    const addr = this.server.address();
    this.base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
