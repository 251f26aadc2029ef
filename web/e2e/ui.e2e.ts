// End-to-end: the admin UI in real Chromium against the real server, on
// SQLite and on PostgreSQL (CALLBACKD_E2E_POSTGRES_URL: an empty database
// that the caller creates and drops; the Go test in web_test.go does).

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { AlertReceiver, completed, failed, launchChromium, login, newContext, postCallback, postRefused, screenshotDir, secret, Server, serverBinary, sleep, step, tokens, type Posted, type Watched } from './harness';

const databases: Array<[string, string]> = [['sqlite', '']];
const pgURL = process.env.CALLBACKD_E2E_POSTGRES_URL ?? '';
if (pgURL) databases.push(['postgres', pgURL]);
else if (process.env.CI) throw new Error('CI: set CALLBACKD_E2E_POSTGRES_URL so that the PostgreSQL run is not skipped');
else console.warn('CALLBACKD_E2E_POSTGRES_URL unset: the PostgreSQL run is skipped');

let browser: Browser;
let bin: string;

beforeAll(async () => {
  bin = serverBinary();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

/** historyURL is the history's address: the console's home (/) is the dashboard. */
const historyURL = (s: Server) => `${s.base}/callbacks`;

const toastsFor = (page: Page, text: string) => page.locator('[data-sonner-toast]', { hasText: text });

function clean(w: Watched) {
  expect(w.violations, 'CSP violations').toEqual([]);
  expect(w.dialogs, 'dialogs').toEqual([]);
  expect(w.errors, 'page errors').toEqual([]);
}

describe.each(databases)('on %s', (name, databaseURL) => {
  let server: Server;

  beforeAll(async () => {
    server = new Server(bin, databaseURL);
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
  });

  test('live toast → details → viewed in history, still unviewed for another admin', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    // The server has its own webhook secret: no development-secret warning.
    await page.locator('#app[data-server-info="loaded"]').waitFor();
    expect(await page.getByTestId('development-secret-banner').count()).toBe(0);
    // The footer names the server's build, as GetServerInfo reports it.
    const build = await page.getByTestId('build-info').textContent();
    expect(build).toMatch(/^callbackd \S+ · commit \S+ · go\d/);

    const sent = Date.now();
    const cb = await postCallback(server.base, completed());
    const toast = toastsFor(page, cb.jobId);
    await toast.waitFor({ timeout: 10_000 });
    const latency = Date.now() - sent;
    console.log(`[${name}] toast after ${latency} ms`);
    // The promise is one second; the bound leaves room for a loaded CI machine.
    expect(latency).toBeLessThan(5000);
    await expect.poll(() => toast.textContent()).toContain('New LLM callback received');
    expect(await toast.textContent()).toContain('workflow.completed');
    expect(await toast.textContent()).toContain('summarise');

    await toast.getByRole('button', { name: 'View details' }).click();
    const dialog = page.getByRole('dialog', { name: /workflow\.completed/ });
    await dialog.waitFor();
    const meta = dialog.getByTestId('metadata');
    await expect.poll(() => meta.textContent()).toContain(cb.id);
    const text = (await meta.textContent()) ?? '';
    expect(text).toContain(cb.jobId);
    expect(text).toContain('summarise');
    expect(text).toContain('llm-hmac-sha256');
    expect(text).toContain('key main');
    expect(await dialog.locator('[data-status="processed"]').count()).toBe(1);
    expect(await dialog.getByTestId('delivery-count').textContent()).toBe('1');
    const payload = dialog.getByTestId('payload');
    expect(await payload.textContent()).toContain('"cost_data"');
    expect(await payload.textContent()).toContain('Three bullet points');
    // MarkViewed ran: the window lists this admin among the viewers.
    await expect.poll(() => dialog.getByTestId('viewed-by').textContent()).toContain('ui');

    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    const row = page.locator(`[data-testid="history-row"][data-id="${cb.id}"]`);
    await expect.poll(() => row.getAttribute('data-viewed'), { timeout: 10_000 }).toBe('true');

    const other = await newContext(browser);
    const otherPage = await other.context.newPage();
    await login(otherPage, historyURL(server), tokens.other);
    const otherRow = otherPage.locator(`[data-testid="history-row"][data-id="${cb.id}"]`);
    await otherRow.waitFor();
    expect(await otherRow.getAttribute('data-viewed')).toBe('false');
    expect(await otherRow.getByTestId('viewed-cell').textContent()).toBe('new');
    await expect.poll(() => otherPage.getByTestId('unviewed-badge').textContent()).toMatch(/^\d+\+?$/);

    clean(watched);
    clean(other.watched);
    await other.context.close();
    await context.close();
  });

  test('two tabs of one admin: one stream, one toast per callback', async () => {
    const { context, watched } = await newContext(browser);
    const first = await context.newPage();
    const watchRequests = new Map<Page, number>();
    const countWatch = (p: Page) =>
      p.on('request', (r) => {
        if (r.url().endsWith('/WatchCallbacks')) watchRequests.set(p, (watchRequests.get(p) ?? 0) + 1);
      });
    countWatch(first);
    await login(first, historyURL(server), tokens.ui);
    const second = await context.newPage();
    countWatch(second);
    await login(second, historyURL(server), tokens.ui);

    const cb = await postCallback(server.base, completed());
    await Promise.race([toastsFor(first, cb.jobId).waitFor({ timeout: 10_000 }), toastsFor(second, cb.jobId).waitFor({ timeout: 10_000 })]);
    await sleep(1500); // room for a second, wrong toast
    const counts = [await toastsFor(first, cb.jobId).count(), await toastsFor(second, cb.jobId).count()];
    expect(counts.reduce((a, b) => a + b)).toBe(1);
    expect(watchRequests.get(first) ?? 0).toBe(1);
    expect(watchRequests.get(second) ?? 0).toBe(0);
    // Both tabs still saw the event: their histories list it.
    for (const p of [first, second]) await p.locator(`[data-testid="history-row"][data-id="${cb.id}"]`).waitFor();

    // A burst becomes one grouped toast.
    const burst = await Promise.all(Array.from({ length: 6 }, () => postCallback(server.base, completed())));
    const groups = () => Promise.all([first, second].map((p) => p.locator('[data-sonner-toast]', { hasText: 'new callbacks' }).count()));
    await expect.poll(async () => (await groups()).reduce((a, b) => a + b), { timeout: 10_000 }).toBe(1);
    await sleep(800);
    expect((await groups()).reduce((a, b) => a + b)).toBe(1);
    const all = [...(await first.locator('[data-sonner-toast]').allTextContents()), ...(await second.locator('[data-sonner-toast]').allTextContents())];
    const singles = burst.filter((b) => all.some((t) => t.includes(b.jobId)));
    expect(singles.length).toBeLessThanOrEqual(1);
    clean(watched);
    await context.close();
  });

  test('failures first: a red toast that stays, a burst that counts its failures, rejected deliveries explained', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);

    const sent = Date.now();
    const bad = await postCallback(server.base, failed());
    const toast = toastsFor(page, bad.jobId);
    await toast.waitFor({ timeout: 10_000 });
    const shownAt = Date.now();
    console.log(`[${name}] failure toast after ${shownAt - sent} ms`);
    await expect.poll(() => toast.textContent()).toContain('LLM callback failed');
    expect(await toast.textContent()).toContain('LLM provider timed out after 3 retries');
    expect(await toast.textContent()).toContain('workflow.failed');
    expect(await toast.getAttribute('data-type')).toBe('error');
    expect(isRed(await toast.evaluate((el) => getComputedStyle(el).borderLeftColor))).toBe(true);
    expect(isRed(await toast.evaluate((el) => getComputedStyle(el).backgroundColor))).toBe(true);

    // Meanwhile: two deliveries the webhook refuses, and the page that explains them.
    const wrong = await postRefused(server.base, completed(), 'not-the-configured-secret');
    expect(wrong).toMatchObject({ status: 401, reason: 'signature_mismatch' });
    const unsigned = await postRefused(server.base, completed(), null);
    expect(unsigned).toMatchObject({ status: 401, reason: 'signature_missing' });
    await page.getByRole('link', { name: 'Rejected' }).click();
    await page.waitForURL(/\/rejected$/);
    const mismatch = page.getByTestId('rejection').filter({ has: page.getByTestId('rejection-request-id').getByText(wrong.requestId, { exact: true }) });
    await mismatch.waitFor();
    expect(await mismatch.getAttribute('data-reason')).toBe('signature_mismatch');
    expect(await mismatch.textContent()).toContain('HTTP 401');
    // The explanation is docs/errors.md's; the hint says what to check.
    expect(await mismatch.getByTestId('rejection-explanation').textContent()).toContain('Wrong secret, or a proxy re-serialised the body.');
    expect(await mismatch.getByTestId('rejection-hint').textContent()).toContain("The sender's secret differs");
    expect(await mismatch.getByTestId('rejection-hint').textContent()).toContain('re-serialised by a proxy');
    expect(await mismatch.getByTestId('rejection-signature-headers').textContent()).toMatch(/X-Webhook-Signature/i);
    expect(await mismatch.textContent()).toContain('127.0.0.1');
    const missing = page.getByTestId('rejection').filter({ has: page.getByTestId('rejection-request-id').getByText(unsigned.requestId, { exact: true }) });
    expect(await missing.getByTestId('rejection-signature-headers').textContent()).toBe('none');
    expect(await missing.getByTestId('rejection-hint').textContent()).toContain('no signature header');
    // Relative time, absolute time with its zone on hover.
    const time = mismatch.locator('time');
    expect(await time.textContent()).toMatch(/just now|min\. ago/);
    expect(await time.getAttribute('title')).toMatch(/\d{1,2}:\d{2}:\d{2}.*(UTC|GMT|[A-Z]{3,4})/);

    // The failure's toast outlived a success toast's ten seconds.
    await sleep(Math.max(0, shownAt + 11_000 - Date.now()));
    expect(await toast.isVisible()).toBe(true);
    await toast.getByRole('button', { name: 'Close toast' }).click();
    await toast.waitFor({ state: 'detached' });

    // A burst with failures says so and offers to open them.
    const burst = await Promise.all([...Array.from({ length: 5 }, () => postCallback(server.base, completed())), postCallback(server.base, failed()), postCallback(server.base, failed())]);
    const group = page.locator('[data-sonner-toast]', { hasText: 'new callbacks' });
    await expect.poll(() => group.first().textContent(), { timeout: 10_000 }).toMatch(/7 new callbacks · 2 failed/);
    expect(isRed(await group.first().evaluate((el) => getComputedStyle(el).borderLeftColor))).toBe(true);
    await group.first().getByRole('button', { name: 'Show failures' }).click();
    await page.waitForURL(/status=error/);
    for (const f of burst.slice(5)) await page.locator(`[data-testid="history-row"][data-id="${f.id}"]`).waitFor();
    await expect.poll(() => page.locator('[data-testid="history-row"] [data-status]:not([data-status="error"])').count()).toBe(0);
    // The range keeps the URL's precision: a burst within one minute still reads as two times.
    const [from, until] = [await page.getByLabel('Received from').inputValue(), await page.getByLabel('until').inputValue()];
    expect(from).not.toBe(until);
    // Chromium normalises the value: trailing zeros of the fraction go (.750 reads .75).
    expect(until).toMatch(/T\d{2}:\d{2}:\d{2}(\.\d{1,3})?$/);
    clean(watched);
    await context.close();
  });

  test('desktop notifications of failures: opt-in, only while hidden, once per browser', async () => {
    const { context, watched } = await newContext(browser);
    await context.grantPermissions(['notifications'], { origin: server.base });
    // The test sees the notifications the page creates, and decides whether
    // the page is hidden (a headless page is always visible).
    await context.addInitScript(() => {
      const w = window as unknown as { __notes: string[]; __hidden: boolean };
      w.__notes = [];
      w.__hidden = false;
      const Real = window.Notification;
      window.Notification = class extends Real {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options);
          w.__notes.push(`${title}|${options?.body ?? ''}`);
        }
      } as typeof Notification;
      Object.defineProperty(document, 'visibilityState', { get: () => (w.__hidden ? 'hidden' : 'visible') });
    });
    const first = await context.newPage();
    await login(first, historyURL(server), tokens.ui);
    const second = await context.newPage();
    await login(second, historyURL(server), tokens.ui);
    const notes = async () => [...(await first.evaluate(() => (window as unknown as { __notes: string[] }).__notes)), ...(await second.evaluate(() => (window as unknown as { __notes: string[] }).__notes))];
    const hide = (hidden: boolean) => Promise.all([first, second].map((p) => p.evaluate((h) => ((window as unknown as { __hidden: boolean }).__hidden = h), hidden)));

    // Not opted in: hidden or not, nothing.
    await hide(true);
    const before = await postCallback(server.base, failed());
    await Promise.race([toastsFor(first, before.jobId).waitFor({ timeout: 10_000 }), toastsFor(second, before.jobId).waitFor({ timeout: 10_000 })]);
    expect(await notes()).toEqual([]);

    await hide(false);
    const toggle = second.getByTestId('notify-toggle');
    expect(await toggle.getAttribute('aria-pressed')).toBe('false');
    await toggle.click();
    await expect.poll(() => toggle.getAttribute('aria-pressed')).toBe('true');

    // Opted in (in one tab: the choice is the browser's) and hidden: one notification for the failure, none for a success.
    await hide(true);
    await postCallback(server.base, completed());
    const bad = await postCallback(server.base, failed());
    await expect.poll(notes, { timeout: 10_000 }).toHaveLength(1);
    expect((await notes())[0]).toContain('Callback failed: translate');
    expect((await notes())[0]).toContain('LLM provider timed out');
    expect((await notes())[0]).toContain(bad.jobId);
    // Visible again: a toast, no notification. (After the grouping window,
    // so that the failure gets a toast of its own, naming its job.)
    await hide(false);
    await sleep(4500);
    const seen = await postCallback(server.base, failed());
    await Promise.race([toastsFor(first, seen.jobId).waitFor({ timeout: 10_000 }), toastsFor(second, seen.jobId).waitFor({ timeout: 10_000 })]);
    await sleep(500);
    expect(await notes()).toHaveLength(1);
    clean(watched);
    await context.close();
  });

  test('find anything: search, totals, pages, columns, mark all viewed', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const tag = `t${randomUUID().slice(0, 8)}`;
    const workflow = `wf-${randomUUID().slice(0, 8)}`;
    // 30 callbacks of one workflow: 26 completions, a failure with a unique
    // word, a step with a model and a long id, a redelivered completion and
    // an unknown event type.
    const job = randomUUID();
    await Promise.all(Array.from({ length: 26 }, () => postCallback(server.base, completed(randomUUID(), { workflow_name: workflow }))));
    const bad = await postCallback(server.base, { ...failed(), workflow_name: workflow, error_message: `quota exceeded for tenant ${tag}: ${'x'.repeat(300)}` });
    const longStep = `extract-${'very-long-step-name-'.repeat(6)}end`;
    // Keys sorted, as the LLM service sends them: "debug" comes first.
    const stepped = await postCallback(server.base, { debug: { model: 'gpt-4o-mini', prompt: 'Summarise', temperature: 0.2 }, ...step(job, longStep, 700), workflow_name: workflow });
    const twice = await postCallback(server.base, completed(job, { workflow_name: workflow }));
    await postCallback(server.base, completed(job, { workflow_name: workflow, timestamp: '2025-12-20T10:30:05.000000+00:00Z' }));
    const odd = await postCallback(server.base, { event: 'workflow.paused', job_id: randomUUID(), workflow_name: workflow, timestamp: 'x' });

    // The history's old address (alert messages link to it) moves to /callbacks, query kept.
    await login(page, `${server.base}/?workflow=${workflow}`, tokens.ui);
    await page.waitForURL(`${historyURL(server)}?workflow=${workflow}`);
    const range = page.getByTestId('page-range');
    await expect.poll(() => range.textContent()).toBe('1–25 of 30');
    // One line per row, whatever the lengths.
    const heights = await page.getByTestId('history-row').evaluateAll((rows) => rows.map((r) => r.getBoundingClientRect().height));
    expect(Math.max(...heights)).toBeLessThan(50);
    expect(Math.max(...heights) - Math.min(...heights)).toBeLessThan(4);
    const row = (id: string) => page.locator(`[data-testid="history-row"][data-id="${id}"]`);
    // Columns: step, error (full text on hover), deliveries, unknown events, relative time.
    const stepCell = row(stepped.id).getByTestId('step-cell');
    expect(await stepCell.textContent()).toBe(longStep);
    expect(await stepCell.evaluate((el) => el.scrollWidth > el.clientWidth && getComputedStyle(el).textOverflow === 'ellipsis')).toBe(true);
    expect(await row(stepped.id).getByTestId('preview-cell').getAttribute('title')).toMatch(/^step: \S+ · model: gpt-4o-mini · \{"debug"/);
    const errorCell = row(bad.id).getByTestId('preview-cell');
    expect(await errorCell.getAttribute('title')).toContain(`error: quota exceeded for tenant ${tag}: ${'x'.repeat(300)}`);
    expect(await row(twice.id).getByTestId('delivery-count').textContent()).toBe('↻ 2');
    expect(await row(twice.id).getByTestId('delivery-count').getAttribute('aria-label')).toBe('2 deliveries (redelivered)');
    expect(await row(odd.id).getByTestId('unknown-event').count()).toBe(1);
    expect(await row(bad.id).getByTestId('unknown-event').count()).toBe(0);
    const time = row(bad.id).locator('time');
    expect(await time.textContent()).toMatch(/just now|min\. ago/);
    expect(await time.getAttribute('title')).toMatch(/\d{1,2}:\d{2}:\d{2}.*(UTC|GMT|[A-Z]{3,4})/);
    // One Tab stop per row: from a row's button, Tab goes to the next row's.
    const rowButtons = page.getByTestId('history-row').getByRole('link', { name: /^Open callback / });
    await rowButtons.nth(0).focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(await rowButtons.nth(1).getAttribute('aria-label'));

    // Older: the next page, its range, the top of the page, focus on the list.
    await page.mouse.wheel(0, 2000);
    await page.getByTestId('older').click();
    await expect.poll(() => range.textContent()).toBe('26–30 of 30');
    expect(page.url()).toContain('start=25');
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('history-list');
    // Page size.
    await page.getByTestId('page-size').selectOption('50');
    await page.waitForURL(/size=50/);
    expect(page.url()).not.toContain('page=');
    await expect.poll(() => range.textContent()).toBe('1–30 of 30');

    // "/" focuses the search; the URL holds the search and the filters.
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('search');
    await page.keyboard.type(tag);
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`q=${tag}`));
    expect(page.url()).toContain(`workflow=${workflow}`);
    await expect.poll(() => range.textContent()).toBe('1–1 of 1');
    expect(await page.getByTestId('history-row').getAttribute('data-id')).toBe(bad.id);
    // A shared link opens the same search.
    const shared = await context.newPage();
    await login(shared, page.url(), tokens.ui);
    await expect.poll(() => shared.getByTestId('page-range').textContent()).toBe('1–1 of 1');
    expect(await shared.getByTestId('search').inputValue()).toBe(tag);
    await shared.close();

    // Mark all as viewed, for the filter (not only this page), after a confirmation.
    await page.getByRole('button', { name: 'Clear search' }).click();
    await page.getByTestId('page-size').selectOption('25');
    await expect.poll(() => range.textContent()).toBe('1–25 of 30');
    await page.getByRole('button', { name: 'Mark all as viewed' }).click();
    expect(await page.getByTestId('mark-all-confirm').textContent()).toContain('Mark 30 matching callbacks viewed');
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await page.locator('[data-testid="history-row"][data-viewed="true"]').count()).toBe(0);
    await page.getByRole('button', { name: 'Mark all as viewed' }).click();
    await page.getByRole('button', { name: 'Mark viewed' }).click();
    await expect.poll(() => page.getByTestId('mark-all-status').textContent()).toBe('Marked 30 callbacks viewed.');
    await expect.poll(() => page.locator('[data-testid="history-row"][data-viewed="false"]').count()).toBe(0);
    await page.getByTestId('older').click();
    await expect.poll(() => range.textContent()).toBe('26–30 of 30');
    await expect.poll(() => page.locator('[data-testid="history-row"][data-viewed="false"]').count()).toBe(0);
    clean(watched);
    await context.close();
  });

  test('resumes after a server restart without missing a callback', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    await server.stop();
    await page.locator('[data-testid="connection"]:not([data-status="live"])').waitFor({ timeout: 15_000 });
    // Every attempt to reconnect from here on, including one already under
    // way when the route below takes effect, is recorded.
    const resumedFrom: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/WatchCallbacks')) resumedFrom.push(r.postDataBuffer()?.toString('latin1') ?? '');
    });
    // Keep the page from reconnecting while a callback arrives: it must
    // find it by resuming from its cursor, not by being there.
    await page.route('**/WatchCallbacks', (route) => route.abort());
    await server.start();
    const missed = await postCallback(server.base, completed());
    await page.unroute('**/WatchCallbacks');
    await toastsFor(page, missed.jobId).waitFor({ timeout: 30_000 });
    await page.getByTestId('connection').and(page.locator('[data-status="live"]')).waitFor();
    // Every attempt asked to resume from a cursor, never "from now".
    expect(resumedFrom.length).toBeGreaterThan(0);
    for (const body of resumedFrom) expect(body).toMatch(/"cursor":"[^"]+"/);
    await page.locator(`[data-testid="history-row"][data-id="${missed.id}"]`).waitFor();
    clean(watched);
    await context.close();
  });

  test('a callback has its own URL; docked beside the list with j/k; size remembered; Copy as curl re-sends it', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const [a, b, c] = [await postCallback(server.base, completed()), await postCallback(server.base, completed()), await postCallback(server.base, completed())];
    await login(page, historyURL(server), tokens.ui);
    await page.getByRole('link', { name: `Open callback ${b.id}` }).click();
    await page.waitForURL(new RegExp(`/callbacks/${b.id}$`));
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.getByTestId('metadata').textContent()).toContain(b.id);
    // Escape goes back to the list; Forward and Back reopen and close it.
    await page.keyboard.press('Escape');
    await page.waitForURL(historyURL(server));
    await dialog.waitFor({ state: 'detached' });
    await page.goForward();
    await expect.poll(() => dialog.getByTestId('metadata').textContent()).toContain(b.id);
    await page.goBack();
    await dialog.waitFor({ state: 'detached' });
    // Ctrl-click on a row's link opens the callback in a new tab, already
    // signed in (the browser's session).
    const [linked] = await Promise.all([context.waitForEvent('page'), page.getByRole('link', { name: `Open callback ${b.id}` }).click({ modifiers: ['Control'] })]);
    await linked.waitForURL(new RegExp(`/callbacks/${b.id}$`));
    expect(page.url()).toBe(historyURL(server));
    await expect.poll(() => linked.getByRole('dialog').getByTestId('metadata').textContent()).toContain(b.id);
    expect(await linked.getByLabel('Admin token or login URL').count()).toBe(0);
    await linked.close();

    // Docked: beside the list, not modal; j and k step through the list.
    await page.getByRole('link', { name: `Open callback ${b.id}` }).click();
    await dialog.getByRole('button', { name: 'Dock beside the list' }).click();
    const dock = page.getByTestId('detail-dock');
    await dock.waitFor();
    expect(await page.getByRole('dialog').count()).toBe(0);
    expect(await page.locator('#app').getAttribute('inert')).toBeNull();
    const listBox = (await page.getByTestId('history-list').boundingBox())!;
    const dockBox = (await dock.boundingBox())!;
    expect(dockBox.x).toBeGreaterThanOrEqual(listBox.x + listBox.width - 1);
    await expect.poll(() => dock.getByTestId('metadata').textContent()).toContain(b.id);
    expect(await page.locator(`[data-testid="history-row"][data-id="${b.id}"]`).getAttribute('aria-current')).toBe('true');
    await page.locator('body').press('j');
    await page.waitForURL(new RegExp(`/callbacks/${a.id}$`));
    await expect.poll(() => dock.getByTestId('metadata').textContent()).toContain(a.id);
    await page.locator('body').press('k');
    await page.locator('body').press('k');
    await page.waitForURL(new RegExp(`/callbacks/${c.id}$`));
    await expect.poll(() => dock.getByTestId('metadata').textContent()).toContain(c.id);
    // Its width follows the handle, and both survive a reload.
    const width = Math.round(dockBox.width);
    await page.getByTestId('dock-handle').focus();
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(async () => Math.round((await dock.boundingBox())!.width)).toBe(width + 80);
    await page.reload();
    await page.getByTestId('connection').and(page.locator('[data-status="live"]')).waitFor();
    await expect.poll(() => dock.getByTestId('metadata').textContent()).toContain(c.id);
    expect(Math.round((await dock.boundingBox())!.width)).toBe(width + 80);

    // The window stays available, and keeps where it was moved to.
    await dock.getByRole('button', { name: 'Open as a window' }).click();
    await dialog.waitFor();
    const before = (await dialog.boundingBox())!;
    const bar = (await dialog.locator('.window-titlebar').boundingBox())!;
    await page.mouse.move(bar.x + 40, bar.y + bar.height / 2);
    await page.mouse.down();
    await page.mouse.move(bar.x - 60, bar.y + bar.height / 2 + 30, { steps: 6 });
    await page.mouse.up();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('link', { name: `Open callback ${a.id}` }).click();
    await dialog.waitFor();
    const again = (await dialog.boundingBox())!;
    expect(Math.round(again.x - before.x)).toBe(-100);
    expect(Math.round(again.y - before.y)).toBe(30);

    // Copy as curl: signed in the browser, and the command really delivers.
    await dialog.getByText('Copy as curl', { exact: true }).first().click();
    await dialog.getByLabel('Sign with secret (never leaves this browser)').fill(secret);
    const signing: string[] = [];
    page.on('request', (r) => {
      if ((r.postData() ?? '').includes(secret)) signing.push(r.url());
    });
    await dialog.getByRole('button', { name: 'Copy as curl' }).click();
    const command = (await dialog.getByTestId('curl-command').textContent()) ?? '';
    expect(command).toContain(`${server.base}/api/webhooks/llm-callback`);
    expect(command).not.toContain(secret);
    expect(signing).toEqual([]);
    const answer = JSON.parse(execFileSync('sh', ['-c', command]).toString()) as { id: string; duplicate: boolean };
    expect(answer).toEqual(expect.objectContaining({ id: a.id, duplicate: true }));
    await expect.poll(() => dialog.getByTestId('delivery-count').textContent()).toBe('2');
    clean(watched);
    await context.close();
  });

  test('dashboard: the home page; tiles, bands of stacked bars and categories that open their failures, a table with links, live', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const workflow = `dash-${randomUUID().slice(0, 8)}`;
    const job = randomUUID();
    await postCallback(server.base, { ...step(job, 'draft', 700), workflow_name: workflow });
    for (let i = 0; i < 3; i++) await postCallback(server.base, completed(randomUUID(), { workflow_name: workflow, duration_ms: 1000 * (i + 1) }));
    await postCallback(server.base, { ...failed(), workflow_name: workflow });
    await postCallback(server.base, { ...failed(), workflow_name: workflow, error: { type: 'ValueError', category: 'validation', retryable: false } });
    // The console opens on the dashboard.
    await login(page, server.base, tokens.ui);
    await page.locator('[data-testid="dashboard"][data-loaded="true"]').waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await page.getByRole('link', { name: 'Dashboard' }).getAttribute('aria-current')).toBe('page');
    // Its old address moves home, its view kept.
    await page.goto(`${server.base}/dashboard?range=7d`);
    await page.waitForURL(`${server.base}/?range=7d`);
    await page.getByRole('button', { name: '24 h' }).click();
    await page.waitForURL(`${server.base}/`);
    await page.getByTestId('dashboard-workflow').locator(`option[value="${workflow}"]`).waitFor({ state: 'attached' });
    await page.getByTestId('dashboard-workflow').selectOption(workflow);
    // With a workflow, the range is written too: that tells this view from an old history link.
    await page.waitForURL(`${server.base}/?range=24h&workflow=${workflow}`);
    await page.locator('[data-testid="dashboard"][data-loaded="true"]').waitFor();
    await expect.poll(() => page.getByTestId('tile-count').textContent()).toBe('6');
    expect(await page.getByTestId('tile-failure-rate').textContent()).toBe('33 %');
    // Tokens: the step's 700 (a completion's cost_data restates its steps).
    expect(await page.getByTestId('tile-tokens').textContent()).toBe('700');
    expect(await page.getByTestId('tile-p50').textContent()).toBe('3.0 s');
    expect(await page.getByTestId('tile-p95').textContent()).toBe('30.5 s');
    const cats = page.getByTestId('failure-categories').locator('li');
    expect(await cats.evaluateAll((li) => li.map((l) => l.getAttribute('data-category')))).toEqual(['provider', 'validation']);
    expect(await page.getByTestId('workflow-daily').locator(`tr[data-workflow="${workflow}"]`).textContent()).toContain('700');
    // The table view holds the same numbers as the chart.
    await page.getByText('The numbers as a table').click();
    const row = page.getByTestId('stats-row');
    expect(await row.count()).toBe(1);
    expect(await row.locator('td').allTextContents()).toEqual(['1', '3', '2', '33 %', '700', '$0.0020', '3.0 s', '30.5 s']);
    // Charts: canvases labelled for assistive technology.
    for (const id of ['chart-status', 'chart-failure-rate', 'chart-duration', 'chart-workflow-tokens']) {
      const chart = page.getByTestId(id);
      expect(await chart.getAttribute('role')).toBe('img');
      expect(await chart.locator('canvas').count()).toBe(1);
    }
    // Live: a new failure updates the dashboard without a reload.
    await postCallback(server.base, { ...failed(), workflow_name: workflow });
    await expect.poll(() => page.getByTestId('tile-count').textContent(), { timeout: 10_000 }).toBe('7');
    const start = await row.getAttribute('data-start');
    const end = new Date(Date.parse(start!) + 3_600_000).toISOString();
    const over = (await page.getByTestId('chart-status').locator('.u-over').boundingBox())!;
    // This hour's bar (the last of 24) stacks 3 errors, 3 processed and 1 received, bottom up.
    const bar = (band: number) => page.mouse.click(over.x + ((23 + 0.5) / 24) * over.width, over.y + over.height * (1 - band));
    const opened = async (status: string, count: number) => {
      await page.waitForURL(/\/callbacks\?/);
      const url = new URL(page.url());
      expect(url.searchParams.get('status')).toBe(status);
      expect(url.searchParams.get('after')).toBe(start);
      expect(url.searchParams.get('before')).toBe(end);
      expect(url.searchParams.get('workflow')).toBe(workflow);
      await expect.poll(() => page.getByTestId('page-range').textContent()).toBe(`1–${count} of ${count}`);
      await expect.poll(() => page.locator(`[data-testid="history-row"] [data-status]:not([data-status="${status}"])`).count()).toBe(0);
      await page.goBack();
      await page.locator('[data-testid="dashboard"][data-loaded="true"]').waitFor();
    };
    // The y scale tops at 110 % of the tallest bar (7): a band's middle is at its count's height.
    await bar(1.5 / 7.7);
    await opened('error', 3);
    await bar(4.5 / 7.7);
    await opened('processed', 3);
    await bar(6.5 / 7.7);
    await opened('received', 1);
    // A category's bar opens those failures (a search for the category: ListCallbacks has no category filter).
    await page.getByRole('link', { name: /^validation: 1 failures/ }).click();
    await page.waitForURL(/\/callbacks\?/);
    const cat = new URL(page.url());
    expect(cat.searchParams.get('status')).toBe('error');
    expect(cat.searchParams.get('q')).toBe('"validation"');
    expect(cat.searchParams.get('workflow')).toBe(workflow);
    await expect.poll(() => page.getByTestId('page-range').textContent()).toBe('1–1 of 1');
    await page.goBack();
    await page.locator('[data-testid="dashboard"][data-loaded="true"]').waitFor();
    // Keyboard: the table's counts are links too; Enter on the error count opens the hour's failures.
    await page.getByText('The numbers as a table').click();
    const errors = row.locator('[data-status-count="error"] a');
    await errors.focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/callbacks\?status=error/);
    await expect.poll(() => page.getByTestId('page-range').textContent()).toBe('1–3 of 3');
    clean(watched);
    await context.close();
  });

  test('"Mark all as viewed" in one tab updates the other tabs of the admin and open detail windows, not another admin\'s marks', async () => {
    const { context, watched } = await newContext(browser);
    const workflow = `many-${randomUUID().slice(0, 8)}`;
    const posted = await Promise.all(Array.from({ length: 3 }, () => postCallback(server.base, completed(randomUUID(), { workflow_name: workflow }))));
    const list = `${historyURL(server)}?workflow=${workflow}`;
    const marking = await context.newPage();
    await login(marking, list, tokens.ui);
    const other = await context.newPage();
    await login(other, list, tokens.ui);
    const second = await newContext(browser);
    const otherAdmin = await second.context.newPage();
    await login(otherAdmin, list, tokens.other);
    const rows = (p: Page, viewed: boolean) => p.locator(`[data-testid="history-row"][data-viewed="${viewed}"]`).count();
    for (const p of [marking, other, otherAdmin]) await expect.poll(() => rows(p, false)).toBe(3);
    // The other admin has one of them open: it lists them alone as its viewer.
    await otherAdmin.getByRole('link', { name: `Open callback ${posted[0]!.id}` }).click();
    const viewers = otherAdmin.getByRole('dialog').getByTestId('viewed-by');
    await expect.poll(() => viewers.textContent()).toContain('other');
    expect(await viewers.textContent()).not.toContain('ui');
    await marking.getByRole('button', { name: 'Mark all as viewed' }).click();
    await marking.getByTestId('mark-all-confirm').getByRole('button', { name: 'Mark viewed' }).click();
    await expect.poll(() => marking.getByTestId('mark-all-status').textContent()).toBe('Marked 3 callbacks viewed.');
    // The other tab did nothing: the stream's one viewed_many event reloads its list.
    await expect.poll(() => rows(other, true), { timeout: 10_000 }).toBe(3);
    expect(await rows(other, false)).toBe(0);
    // The open window reads its viewers again on the batch event.
    await expect.poll(() => viewers.textContent(), { timeout: 10_000 }).toContain('ui');
    await otherAdmin.keyboard.press('Escape');
    // Another admin's marks are their own: the event reloads their list, in
    // which only the callback they opened is viewed.
    await sleep(1500);
    expect(await rows(otherAdmin, false)).toBe(2);
    clean(watched);
    clean(second.watched);
    await second.context.close();
    await context.close();
  });

  test('alerts: the rules and recent deliveries, read-only, status in words; without a configuration, how to write one', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    // This server runs without --alerts-config.
    await login(page, `${server.base}/alerts`, tokens.ui);
    const empty = page.getByTestId('alerts-empty');
    await empty.waitFor();
    expect(await empty.textContent()).toContain('--alerts-config');
    expect(await empty.getByTestId('alerts-example').textContent()).toContain('match: {event: workflow.failed}');
    expect(await empty.getByRole('link', { name: 'Alerts in the README' }).getAttribute('href')).toMatch(/README\.md#alerts$/);
    expect(await page.getByTestId('alert-rules').count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Alerts', exact: true }).getAttribute('aria-current')).toBe('page');

    // A server with rules: one channel whose receiver answers, one whose receiver is out.
    const receiver = new AlertReceiver();
    await receiver.start();
    const workflow = `alerted-${randomUUID().slice(0, 8)}`;
    const config = join(mkdtempSync(join(tmpdir(), 'callbackd-e2e-alerts-')), 'alerts.yaml');
    writeFileSync(
      config,
      `channels:
  - name: pager
    webhook: {url: "${receiver.base}/hook", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]}
  - name: ops-chat
    slack: {url: "${receiver.base}/down/services/T0/B0/XXXX"}
rules:
  - name: failed-${workflow}
    match: {event: workflow.failed, workflow: ${workflow}}
    group_window: 0s
    min_interval: 10m
    channels: [pager, ops-chat]
`,
    );
    const alerting = new Server(bin, databaseURL, { args: ['--alerts-config', config] });
    await alerting.start();
    try {
      const alerts = await context.newPage();
      await login(alerts, `${alerting.base}/alerts`, tokens.ui);
      const rule = alerts.locator(`[data-testid="alert-rule"][data-rule="failed-${workflow}"]`);
      await rule.waitFor();
      expect(await rule.getByTestId('alert-rule-summary').textContent()).toContain(workflow);
      expect(await rule.getByTestId('alert-rule-channels').textContent()).toBe('pager (webhook)ops-chat (slack)');
      expect(await rule.getByTestId('alert-rule-interval').textContent()).toBe('10m');

      const bad = await postCallback(alerting.base, { ...failed(), workflow_name: workflow });
      // This rule's deliveries (a database may hold others': deliveries are kept 7 days).
      const ours = `[data-testid="alert-delivery"][data-rule="failed-${workflow}"]`;
      const deliveries = () => alerts.locator(ours).evaluateAll((rs) => rs.map((r) => `${r.getAttribute('data-channel')}:${r.getAttribute('data-status')}`).sort());
      await expect
        .poll(
          async () => {
            await alerts.getByRole('button', { name: 'Refresh' }).click();
            await alerts.locator('[data-testid="alerts"][data-loaded="true"]').waitFor();
            return deliveries();
          },
          { timeout: 30_000, interval: 1000 },
        )
        .toEqual(['ops-chat:retrying', 'pager:sent']);
      const delivery = (channel: string) => alerts.locator(`${ours}[data-channel="${channel}"]`);
      // The status reads in words and a symbol, not in colour alone.
      expect(await delivery('pager').getByTestId('alert-delivery-status').textContent()).toBe('✓ sent');
      expect(await delivery('ops-chat').getByTestId('alert-delivery-status').textContent()).toBe('↻ retrying');
      expect(await delivery('pager').getByTestId('alert-delivery-attempts').textContent()).toBe('1 / 12');
      expect(await delivery('pager').getByTestId('alert-delivery-error').textContent()).toBe('—');
      expect(await delivery('ops-chat').getByTestId('alert-delivery-error').textContent()).toContain('500');
      // Once, signed: the receiver got this alert one time (a database may hold other
      // rules' alerts still on their way, sent to this receiver by name).
      expect(receiver.received.filter((r) => r.path === '/hook' && r.body.includes(workflow))).toHaveLength(1);
      // At 320 px the page does not scroll sideways (the tables scroll inside themselves),
      // and in the dark theme its tables and status words are dark and light.
      await alerts.setViewportSize({ width: 320, height: 640 });
      await sleep(300);
      expect(await alerts.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
      await alerts.emulateMedia({ colorScheme: 'dark' });
      await expect.poll(() => alerts.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(true);
      expect(luminance(await alerts.getByTestId('alert-deliveries').evaluate((el) => getComputedStyle(el.closest('.table-scroll')!).backgroundColor))).toBeLessThan(0.3);
      for (const channel of ['pager', 'ops-chat']) {
        const status = delivery(channel).getByTestId('alert-delivery-status');
        const colours = await status.evaluate((el) => ({ fg: getComputedStyle(el).color, bg: getComputedStyle(el).backgroundColor }));
        expect(contrast(colours.fg, colours.bg), channel).toBeGreaterThanOrEqual(4.5);
      }
      await alerts.setViewportSize({ width: 1280, height: 800 });
      // The alert's link opens what it is about in this console: the failed callback in the history.
      const link = delivery('pager').getByTestId('alert-delivery-link');
      expect(await link.getAttribute('href')).toMatch(new RegExp(`^/callbacks\\?.*workflow=${workflow}`));
      await link.focus();
      await alerts.keyboard.press('Enter');
      await alerts.waitForURL(/\/callbacks\?/);
      await alerts.locator(`[data-testid="history-row"][data-id="${bad.id}"]`).waitFor();
      expect(await alerts.getByTestId('history-row').count()).toBe(1);
      clean(watched);
    } finally {
      await alerting.stop();
      await receiver.stop();
      await context.close();
    }
  });

  test('reconnect: "Reconnect now" ends the wait, and the history reloads without a stale error', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    await server.stop();
    await page.locator('[data-testid="connection"]:not([data-status="live"])').waitFor({ timeout: 15_000 });
    // A history load while the server is away fails.
    await page.getByLabel('Status').selectOption('processed');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not load callbacks' }).waitFor();
    // Keep every attempt failing until the next one is far away.
    await page.route('**/WatchCallbacks', (route) => route.abort());
    await server.start();
    const missed = await postCallback(server.base, completed());
    const retryAt = async () => Number((await page.getByTestId('connection').getAttribute('data-retry-at')) ?? 0);
    await expect.poll(async () => (await retryAt()) - Date.now(), { timeout: 45_000, interval: 200 }).toBeGreaterThan(4000);
    const due = await retryAt();
    await page.unroute('**/WatchCallbacks');
    await page.getByTestId('reconnect-now').click();
    await page.getByTestId('connection').and(page.locator('[data-status="live"]')).waitFor({ timeout: 10_000 });
    // Live before the attempt the backoff had planned.
    expect(Date.now()).toBeLessThan(due);
    await page.locator(`[data-testid="history-row"][data-id="${missed.id}"]`).waitFor();
    expect(await page.getByRole('alert').filter({ hasText: 'Could not load callbacks' }).count()).toBe(0);
    // The aborted attempts are the test's doing; only they may have been reported.
    expect(watched.errors).toEqual([]);
    expect(watched.violations).toEqual([]);
    await context.close();
  });

  test('a hostile payload renders as inert text', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    const hostile = completed(randomUUID(), {
      workflow_name: '<img src=x onerror="window.__pwned=1;alert(1)">',
      result: {
        '<script>window.__pwned=2;alert(2)</script>': '<img src=x onerror="window.__pwned=3;alert(3)">',
        'javascript:alert(4)': 'javascript:window.__pwned=4;alert(4)',
        html: '<a href="javascript:alert(5)">click</a><svg onload="alert(6)"></svg>',
      },
    });
    const cb = await postCallback(server.base, hostile);
    const toast = toastsFor(page, cb.jobId);
    await toast.waitFor({ timeout: 10_000 });
    expect(await toast.textContent()).toContain('<img src=x onerror=');
    await toast.getByRole('button', { name: 'View details' }).click();
    const dialog = page.getByRole('dialog');
    const payload = dialog.getByTestId('payload');
    await expect.poll(() => payload.textContent()).toContain('<script>window.__pwned=2;alert(2)</script>');
    expect(await payload.textContent()).toContain('javascript:window.__pwned=4');
    expect(await payload.textContent()).toContain('<svg onload=');
    // Every interactive element the payload could have become is absent.
    expect(await page.locator('img, svg[onload], script:not([src]), a[href^="javascript:"], iframe, object').count()).toBe(0);
    // Expand and collapse everything, hover it all: still nothing runs.
    // Collapsing a node removes its children's toggles, so the toggles are
    // counted again before each click.
    const toggles = payload.locator('[role="button"]');
    for (let i = 0; i < (await toggles.count()); i++) await toggles.nth(i).click();
    await page.locator(`[data-testid="history-row"][data-id="${cb.id}"]`).waitFor();
    await sleep(500);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    clean(watched);
    await context.close();
  });

  test('keyboard: Tab stays in the window, Escape closes it, focus returns', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const cb = await postCallback(server.base, failed());
    await login(page, historyURL(server), tokens.ui);
    const opener = page.getByRole('link', { name: `Open callback ${cb.id}` });
    await opener.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: /workflow\.failed/ });
    await dialog.waitFor();
    expect(await dialog.getAttribute('aria-modal')).toBe('true');
    await expect.poll(() => dialog.locator('[data-status="error"]').count()).toBe(1);
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press(i % 5 === 4 ? 'Shift+Tab' : 'Tab');
      expect(await page.evaluate(() => !!document.activeElement?.closest('[role="dialog"]'))).toBe(true);
    }
    // Maximise and minimise work; minimised, the window is not modal.
    await dialog.getByRole('button', { name: 'Maximise' }).click();
    expect(await dialog.getAttribute('data-mode')).toBe('maximised');
    await dialog.getByRole('button', { name: 'Minimise' }).click();
    await expect.poll(() => page.getByRole('dialog').getAttribute('aria-modal')).toBe('false');
    await page.getByRole('dialog').getByRole('button', { name: 'Restore' }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(`Open callback ${cb.id}`);
    clean(watched);
    await context.close();
  });

  test('the window can be dragged and resized', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    // Posted before login: no toast may cover the window's corner.
    const cb = await postCallback(server.base, completed());
    await login(page, historyURL(server), tokens.ui);
    await page.getByRole('link', { name: `Open callback ${cb.id}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const before = (await dialog.boundingBox())!;
    const bar = dialog.locator('.window-titlebar');
    const b = (await bar.boundingBox())!;
    await page.mouse.move(b.x + 40, b.y + b.height / 2);
    await page.mouse.down();
    await page.mouse.move(b.x - 60, b.y + 40, { steps: 8 });
    await page.mouse.up();
    const moved = (await dialog.boundingBox())!;
    expect(Math.round(moved.x - before.x)).toBe(-100);
    expect(Math.round(moved.y - before.y)).toBe(Math.round(40 - b.height / 2));
    await page.mouse.move(moved.x + moved.width - 2, moved.y + moved.height - 2);
    await page.mouse.down();
    await page.mouse.move(moved.x + moved.width - 102, moved.y + moved.height - 52, { steps: 8 });
    await page.mouse.up();
    const resized = (await dialog.boundingBox())!;
    expect(Math.round(moved.width - resized.width)).toBe(100);
    expect(Math.round(moved.height - resized.height)).toBe(50);
    // Dragging injects no <style> element (react-draggable's user-select hack would).
    clean(watched);
    await context.close();
  });

  test('job timeline: steps then outcome, with totals', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const jobId = randomUUID();
    await postCallback(server.base, step(jobId, 'outline', 600));
    await postCallback(server.base, step(jobId, 'draft', 900));
    await postCallback(server.base, completed(jobId));
    await login(page, historyURL(server), tokens.ui);
    await page.goto(`${server.base}/jobs/${jobId}`);
    await page.getByTestId('timeline-item').nth(2).waitFor();
    const items = await page.getByTestId('timeline-item').allTextContents();
    expect(items[0]).toContain('outline');
    expect(items[1]).toContain('draft');
    expect(items[2]).toContain('workflow.completed');
    expect(await page.getByTestId('total-tokens').textContent()).toBe('1,234');
    expect(await page.getByTestId('total-cost').textContent()).toBe('$0.0123');
    expect(await page.getByTestId('total-duration').textContent()).toBe('4.3 s');
    clean(watched);
    await context.close();
  });

  test('job timeline: tokens in every shape, a failed outcome in red, wrapped step names aligned', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const jobId = randomUUID();
    const longStep = `summarise-${'each-section-of-the-report-'.repeat(4)}end`;
    // The LLM service's own shape, as the built-in samples send it.
    await postCallback(server.base, { ...step(jobId, longStep, 0), tokens: { prompt: 980, completion: 230, total: 1210 } });
    await postCallback(server.base, { ...step(jobId, 'usage', 0), tokens: undefined, usage: { prompt_tokens: 40, completion_tokens: 2 } });
    await postCallback(server.base, failed(jobId));
    await login(page, historyURL(server), tokens.ui);
    await page.setViewportSize({ width: 480, height: 800 });
    await page.goto(`${server.base}/jobs/${jobId}`);
    await page.getByTestId('timeline-item').nth(2).waitFor();
    const items = page.getByTestId('timeline-item');
    expect(await items.nth(0).getByTestId('timeline-detail').textContent()).toMatch(/^1,210 tokens/);
    expect(await items.nth(1).getByTestId('timeline-detail').textContent()).toMatch(/^42 tokens/);
    const outcome = items.nth(2);
    expect(await outcome.getAttribute('data-failed')).toBe('true');
    expect(await outcome.getByTestId('timeline-detail').textContent()).toBe('LLM provider timed out after 3 retries');
    expect(isRed(await outcome.getByTestId('timeline-detail').evaluate((el) => getComputedStyle(el).color))).toBe(true);
    expect(isRed(await outcome.locator('.timeline-dot').evaluate((el) => getComputedStyle(el).backgroundColor))).toBe(true);
    // The long step name wraps, every line starting at the same left edge.
    const lines = await items.nth(0).getByRole('button').evaluate((el) => {
      const range = document.createRange();
      range.selectNodeContents(el);
      return Array.from(range.getClientRects(), (r) => Math.round(r.left));
    });
    expect(new Set(lines.map((l) => Math.round(l / 2))).size).toBe(1);
    expect(lines.length).toBeGreaterThan(1);
    clean(watched);
    await context.close();
  });

  test('filters live in the URL and the back button restores them', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const bad = await postCallback(server.base, failed());
    await login(page, historyURL(server), tokens.ui);
    await page.getByLabel('Status').selectOption('error');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/\?status=error$/);
    await page.locator(`[data-testid="history-row"][data-id="${bad.id}"]`).waitFor();
    await expect.poll(() => page.locator('[data-testid="history-row"] [data-status]:not([data-status="error"])').count()).toBe(0);
    await page.getByLabel('Job ID').fill(bad.jobId);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(new RegExp(`job=${bad.jobId}`));
    await expect.poll(() => page.getByTestId('history-row').count()).toBe(1);
    await page.goBack();
    await page.waitForURL(/\?status=error$/);
    // The URL changes first; the form follows on the next render.
    await expect.poll(() => page.getByLabel('Job ID').inputValue()).toBe('');
    // A shared link opens the same view.
    const shared = await context.newPage();
    await login(shared, `${server.base}/?status=error&job=${bad.jobId}`, tokens.ui);
    await shared.waitForURL(`${historyURL(server)}?status=error&job=${bad.jobId}`);
    await expect.poll(() => shared.getByTestId('history-row').count()).toBe(1);
    clean(watched);
    await context.close();
  });

  test('"Send test callback" runs the whole pipeline to a toast', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    await page.getByLabel('Test event type').selectOption('llm.step.completed');
    await page.getByRole('button', { name: 'Send test callback' }).click();
    await expect.poll(() => page.getByTestId('test-callback-status').textContent()).toMatch(/^Sent: job \S+, signed with key main\.$/);
    const jobId = /job (\S+),/.exec((await page.getByTestId('test-callback-status').textContent()) ?? '')![1]!;
    const toast = toastsFor(page, jobId);
    await toast.waitFor({ timeout: 10_000 });
    expect(await toast.textContent()).toContain('llm.step.completed');
    clean(watched);
    await context.close();
  });

  test('a login URL logs in; a session that ended returns to login with a message', async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${server.base}/#token=${tokens.ui}`);
    await page.getByTestId('connection').and(page.locator('[data-status="live"]')).waitFor();
    expect(page.url()).not.toContain('token=');
    // The token was exchanged for an HttpOnly session cookie; no script
    // sees it, and the token is kept nowhere.
    const cookies = await context.cookies(server.base);
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['callbackd-session', true, 'Strict']]);
    expect(await page.evaluate(() => document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage))).not.toContain(tokens.ui);
    // A cookie naming no live session (ended, or never issued).
    await context.clearCookies();
    await context.addCookies([{ name: 'callbackd-session', value: 'A'.repeat(43), url: server.base, httpOnly: true, sameSite: 'Strict' }]);
    await page.reload();
    await page.getByTestId('login-message').waitFor();
    expect(await page.getByTestId('login-message').textContent()).toContain('401');
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await context.close();
  });

  test('phone (320 px): no page scroll sideways; the history is cards; the window fills the screen', async () => {
    const { context, watched } = await newContext(browser, { viewport: { width: 320, height: 640 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const cb = await postCallback(server.base, failed());
    await login(page, historyURL(server), tokens.ui);
    await page.getByTestId('history-row').first().waitFor();
    expect(await page.getByTestId('history-table').count()).toBe(0);
    const card = page.locator(`[data-testid="history-row"][data-id="${cb.id}"]`);
    // Status, event, workflow and time, all on screen.
    for (const part of [card.locator('[data-status="error"]'), card.getByText('workflow.failed'), card.getByText('translate'), card.locator('time')]) {
      const box = (await part.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(320);
    }
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await page.getByRole('link', { name: `Open callback ${cb.id}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const box = (await dialog.boundingBox())!;
    expect(box).toEqual({ x: 0, y: 0, width: 320, height: 640 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    // The other pages fit too.
    for (const path of ['/', '/rejected', '/alerts', `/jobs/${cb.jobId}`]) {
      await page.goto(`${server.base}${path}`);
      await page.locator('h1').waitFor();
      await sleep(300);
      expect(await page.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(320);
    }
    clean(watched);
    await context.close();
  });

  test('dark mode follows the system and the toggle', async () => {
    const { context, watched } = await newContext(browser, { colorScheme: 'dark' });
    const page = await context.newPage();
    await postCallback(server.base, failed());
    await login(page, historyURL(server), tokens.ui);
    await page.getByTestId('history-row').first().waitFor();
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(true);
    const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    expect(luminance(bg)).toBeLessThan(0.2);
    // The toggle cycles system → light → dark.
    await page.getByTestId('theme-toggle').click();
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(false);
    expect(luminance(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor))).toBeGreaterThan(0.8);
    await page.getByTestId('theme-toggle').click();
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(true);
    // The new pages are dark too: their panels and text.
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.locator('[data-testid="dashboard"][data-loaded="true"]').waitFor();
    expect(luminance(await page.locator('.panel').first().evaluate((el) => getComputedStyle(el).backgroundColor))).toBeLessThan(0.3);
    expect(luminance(await page.locator('h1').evaluate((el) => getComputedStyle(el).color))).toBeGreaterThan(0.8);
    await page.getByRole('link', { name: 'Rejected' }).click();
    await page.locator('#rejected-title').waitFor();
    expect(luminance(await page.locator('h1').evaluate((el) => getComputedStyle(el).color))).toBeGreaterThan(0.8);
    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.getByTestId('alerts-empty').waitFor();
    expect(luminance(await page.locator('h1').evaluate((el) => getComputedStyle(el).color))).toBeGreaterThan(0.8);
    expect(luminance(await page.getByTestId('alerts-empty').evaluate((el) => getComputedStyle(el).backgroundColor))).toBeLessThan(0.3);
    clean(watched);
    await context.close();
  });
});

// A server without its own webhook secret (allowed on loopback only) accepts
// the sender's public development secret: every page warns about it.
describe('development secret', () => {
  let server: Server;

  beforeAll(async () => {
    server = new Server(bin, '', { developmentSecret: true });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
  });

  test('first steps: the login page says where the token is; the empty home page says how to send a callback, and its command does; skip link; "?" lists the shortcuts', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await page.goto(server.base);
    const hint = (await page.getByTestId('token-hint').textContent()) ?? '';
    expect(hint).toContain('login URL');
    expect(hint).toContain('admin-token');
    expect(hint).toContain('--data-dir');
    await page.getByLabel('Admin token or login URL').fill(tokens.ui);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('connection').and(page.locator('[data-status="live"]')).waitFor({ timeout: 15_000 });
    const empty = page.getByTestId('empty-state');
    await empty.waitFor();
    expect(await empty.getByTestId('webhook-url').textContent()).toBe(`${server.base}/api/webhooks/llm-callback`);
    expect(await empty.textContent()).toContain('--webhook-secret');
    expect(await empty.getByRole('button', { name: 'Copy command' }).count()).toBe(1);
    // The command, run as shown, delivers a signed callback (this server accepts the development secret).
    const command = (await empty.getByTestId('first-callback-command').textContent()) ?? '';
    const answer = JSON.parse(execFileSync('sh', ['-c', command]).toString()) as { id: string; duplicate: boolean };
    expect(answer.duplicate).toBe(false);
    // The console's home, the dashboard, showed the steps; it counts the callback now.
    expect(new URL(page.url()).pathname).toBe('/');
    await empty.waitFor({ state: 'detached', timeout: 10_000 });
    await expect.poll(() => page.getByTestId('tile-count').textContent()).toBe('1');
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.locator(`[data-testid="history-row"][data-id="${answer.id}"]`).waitFor();

    // The first Tab stop is the skip link; it moves focus to the page.
    await page.reload();
    await page.getByTestId('history-row').first().waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    expect(await page.getByText('Skip to content').isVisible()).toBe(true);
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    // "?" opens the list of shortcuts; Escape closes it.
    await page.keyboard.press('?');
    const overlay = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await overlay.waitFor();
    for (const key of ['/', 'j', 'k', 'Esc']) expect(await overlay.locator('kbd', { hasText: new RegExp(`^${key === '/' ? '\\/' : key}$`) }).count()).toBe(1);
    await page.keyboard.press('Escape');
    await overlay.waitFor({ state: 'hidden' });
    clean(watched);
    await context.close();
  });

  test.each([['light' as const], ['dark' as const]])('a warning banner, readable in the %s theme', async (colorScheme) => {
    const { context, watched } = await newContext(browser, { colorScheme });
    const page = await context.newPage();
    await login(page, server.base, tokens.ui);
    const banner = page.getByRole('alert').filter({ hasText: 'Development secret in use' });
    await banner.waitFor();
    expect(await banner.getAttribute('data-testid')).toBe('development-secret-banner');
    expect(await banner.textContent()).toContain('LLM_WEBHOOK_SECRET');
    expect(await banner.isVisible()).toBe(true);
    const colours = await banner.evaluate((el) => ({ fg: getComputedStyle(el).color, bg: getComputedStyle(el).backgroundColor }));
    // WCAG AA for normal text.
    expect(contrast(colours.fg, colours.bg)).toBeGreaterThanOrEqual(4.5);
    // It stays on other pages too.
    for (const path of ['/', '/callbacks', '/rejected', '/alerts', `/callbacks/${randomUUID()}`]) {
      await page.goto(`${server.base}${path}`);
      await page.getByTestId('development-secret-banner').waitFor();
    }
    await page.goto(`${server.base}/jobs/${randomUUID()}`);
    await page.getByTestId('development-secret-banner').waitFor();
    const dir = screenshotDir();
    if (dir) await page.screenshot({ path: join(dir, `development-secret-${colorScheme}.png`) });
    clean(watched);
    await context.close();
  });
});

// Screenshots for the README, on a fresh server with a small, realistic
// history: a job's LLM steps and its completion, and a failed job.
describe.runIf(screenshotDir() !== null)('screenshots', () => {
  let server: Server;
  let done: Posted;
  const receiver = new AlertReceiver();

  beforeAll(async () => {
    // Alert rules whose chat answers and whose pager is out (it retries).
    await receiver.start();
    const config = join(mkdtempSync(join(tmpdir(), 'callbackd-e2e-alerts-')), 'alerts.yaml');
    writeFileSync(
      config,
      `channels:
  - name: ops-chat
    slack: {url: "${receiver.base}/services/T0/B0/XXXX"}
  - name: pager
    webhook: {url: "${receiver.base}/down/hook", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]}
rules:
  - name: failed-jobs
    match: {event: workflow.failed}
    group_window: 0s
    min_interval: 10m
    channels: [ops-chat, pager]
  - name: provider-burst
    match: {event: workflow.failed, error: {category: provider}}
    count: {at_least: 5, within: 10m}
    channels: [pager]
  - name: stuck-jobs
    stuck: {after: 30m}
    channels: [ops-chat]
`,
    );
    server = new Server(bin, '', { args: ['--alerts-config', config] });
    await server.start();
    const job = randomUUID();
    await postCallback(server.base, step(job, 'extract-key-points', 1850));
    await postCallback(server.base, step(job, 'write-summary', 2410));
    await postCallback(server.base, failed());
    await postCallback(server.base, { ...failed(), workflow_name: 'classify-tickets', error_message: 'Output did not match the JSON schema', error: { type: 'ValidationError', category: 'validation', retryable: false } });
    for (let i = 0; i < 4; i++) await postCallback(server.base, completed(randomUUID(), { workflow_name: 'classify-tickets', duration_ms: 2100 + 700 * i, cost_data: { total_tokens: 900 + 150 * i, cost_usd: 0.004, llm_calls: [] } }));
    await postCallback(server.base, { debug: { model: 'gpt-4o-mini', prompt: 'Classify the ticket', temperature: 0 }, ...step(randomUUID(), 'classify', 640), workflow_name: 'classify-tickets' });
    done = await postCallback(server.base, completed(job, { cost_data: { total_tokens: 4260, cost_usd: 0.0213, llm_calls: [{ model: 'gpt-4o-mini', tokens: 1850 }, { model: 'gpt-4o-mini', tokens: 2410 }] } }));
  });

  afterAll(async () => {
    await server?.stop();
    await receiver.stop();
  });

  test.each([
    ['desktop-light.png', { colorScheme: 'light' as const }],
    ['desktop-dark.png', { colorScheme: 'dark' as const }],
  ])('%s', async (file, options) => {
    const { context } = await newContext(browser, options);
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    await page.getByRole('link', { name: `Open callback ${done.id}` }).click();
    await page.getByRole('dialog').getByTestId('viewed-by').filter({ hasText: 'ui' }).waitFor();
    await sleep(300);
    await page.screenshot({ path: join(screenshotDir()!, file) });
    await context.close();
  });

  test('docked.png', async () => {
    const { context } = await newContext(browser, { viewport: { width: 1440, height: 860 } });
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    await page.getByRole('link', { name: `Open callback ${done.id}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Dock beside the list' }).click();
    await page.getByTestId('detail-dock').getByTestId('viewed-by').filter({ hasText: 'ui' }).waitFor();
    await sleep(300);
    await page.screenshot({ path: join(screenshotDir()!, 'docked.png') });
    await context.close();
  });

  test('dashboard.png', async () => {
    const { context } = await newContext(browser, { viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await login(page, server.base, tokens.ui);
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.locator('[data-testid="dashboard"][data-loaded="true"]').waitFor();
    await sleep(300);
    await page.screenshot({ path: join(screenshotDir()!, 'dashboard.png'), fullPage: true });
    await context.close();
  });

  test('alerts.png', async () => {
    const { context } = await newContext(browser, { viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await login(page, `${server.base}/alerts`, tokens.ui);
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          await page.locator('[data-testid="alerts"][data-loaded="true"]').waitFor();
          return page.locator('[data-testid="alert-delivery"][data-status="retrying"]').count();
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBeGreaterThan(0);
    await sleep(300);
    await page.screenshot({ path: join(screenshotDir()!, 'alerts.png'), fullPage: true });
    await context.close();
  });

  test('failure-toast.png', async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    const bad = await postCallback(server.base, { ...failed(), error_message: 'Rate limit reached for gpt-4o-mini in organization org-…: limit 10,000 TPM' });
    await toastsFor(page, bad.jobId).waitFor();
    await sleep(600); // the toast's entrance
    await page.screenshot({ path: join(screenshotDir()!, 'failure-toast.png') });
    await context.close();
  });

  test('phone.png', async () => {
    const { context } = await newContext(browser, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    await login(page, historyURL(server), tokens.ui);
    await page.getByTestId('history-row').nth(4).waitFor();
    await page.screenshot({ path: join(screenshotDir()!, 'phone.png') });
    await context.close();
  });
});

/** isRed tells whether a computed CSS colour (rgb() or oklch()) is a red. */
function isRed(css: string): boolean {
  const rgb = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(css);
  if (rgb) return Number(rgb[1]) > 1.05 * Number(rgb[2]) && Number(rgb[1]) > 1.05 * Number(rgb[3]);
  const ok = /oklch\(([\d.]+)%?\s+([\d.]+)\s+([\d.]+)/.exec(css);
  if (!ok) throw new Error(`unknown colour ${css}`);
  const hue = Number(ok[3]);
  return Number(ok[2]) > 0.01 && (hue < 40 || hue > 340);
}

/** contrast is the WCAG contrast ratio of two computed CSS colours. */
function contrast(a: string, b: string): number {
  const [la, lb] = [relativeLuminance(a), relativeLuminance(b)];
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** relativeLuminance is WCAG's relative luminance of rgb() or oklch() (as Chromium reports Tailwind's colours). */
function relativeLuminance(css: string): number {
  const rgb = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(css);
  let linear: number[];
  if (rgb) {
    linear = [rgb[1], rgb[2], rgb[3]].map((v) => {
      const c = Number(v) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
  } else {
    const ok = /oklch\(([\d.]+)(%?)\s+([\d.]+)\s+([\d.]+)/.exec(css);
    if (!ok) throw new Error(`unknown colour ${css}`);
    const L = Number(ok[1]) / (ok[2] ? 100 : 1);
    const h = (Number(ok[4]) * Math.PI) / 180;
    const [A, B] = [Number(ok[3]) * Math.cos(h), Number(ok[3]) * Math.sin(h)];
    const l = (L + 0.3963377774 * A + 0.2158037573 * B) ** 3;
    const m = (L - 0.1055613458 * A - 0.0638541728 * B) ** 3;
    const s = (L - 0.0894841775 * A - 1.291485548 * B) ** 3;
    linear = [4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s, -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s, -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s];
  }
  const [r, g, bl] = linear.map((c) => Math.min(1, Math.max(0, c)));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
}

/** luminance of a computed CSS colour (rgb(), or oklch() as Chromium may report). */
function luminance(css: string): number {
  const rgb = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(css);
  if (rgb) return (0.2126 * Number(rgb[1]) + 0.7152 * Number(rgb[2]) + 0.0722 * Number(rgb[3])) / 255;
  const ok = /oklch\(([\d.]+)(%?)/.exec(css);
  if (ok) return Number(ok[1]) / (ok[2] ? 100 : 1);
  throw new Error(`unknown colour ${css}`);
}
