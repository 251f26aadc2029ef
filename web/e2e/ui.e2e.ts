// End-to-end: the admin UI in real Chromium against the real server, on
// SQLite and on PostgreSQL (CALLBACKD_E2E_POSTGRES_URL: an empty database
// that the caller creates and drops; the Go test in web_test.go does).

import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { completed, failed, launchChromium, login, newContext, postCallback, screenshotDir, Server, serverBinary, sleep, step, tokens, type Posted, type Watched } from './harness';

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
    await login(page, server.base, tokens.ui);
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
    await login(otherPage, server.base, tokens.other);
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
    await login(first, server.base, tokens.ui);
    const second = await context.newPage();
    countWatch(second);
    await login(second, server.base, tokens.ui);

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

  test('resumes after a server restart without missing a callback', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, server.base, tokens.ui);
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

  test('a hostile payload renders as inert text', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, server.base, tokens.ui);
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
    await login(page, server.base, tokens.ui);
    const opener = page.getByRole('button', { name: `Open callback ${cb.id}` });
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
    const { context } = await newContext(browser);
    const page = await context.newPage();
    // Posted before login: no toast may cover the window's corner.
    const cb = await postCallback(server.base, completed());
    await login(page, server.base, tokens.ui);
    await page.getByRole('button', { name: `Open callback ${cb.id}` }).click();
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
    await context.close();
  });

  test('job timeline: steps then outcome, with totals', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const jobId = randomUUID();
    await postCallback(server.base, step(jobId, 'outline', 600));
    await postCallback(server.base, step(jobId, 'draft', 900));
    await postCallback(server.base, completed(jobId));
    await login(page, server.base, tokens.ui);
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

  test('filters live in the URL and the back button restores them', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const bad = await postCallback(server.base, failed());
    await login(page, server.base, tokens.ui);
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
    await expect.poll(() => shared.getByTestId('history-row').count()).toBe(1);
    clean(watched);
    await context.close();
  });

  test('"Send test callback" runs the whole pipeline to a toast', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await login(page, server.base, tokens.ui);
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

  test('phone (320 px): no page scroll sideways; the table scrolls; the window fills the screen', async () => {
    const { context, watched } = await newContext(browser, { viewport: { width: 320, height: 640 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const cb = await postCallback(server.base, completed());
    await login(page, server.base, tokens.ui);
    await page.getByTestId('history-row').first().waitFor();
    const sizes = await page.evaluate(() => {
      const scroller = document.querySelector('[data-testid="table-scroll"]')!;
      return { page: document.documentElement.scrollWidth, viewport: document.documentElement.clientWidth, table: scroller.scrollWidth, box: scroller.clientWidth };
    });
    expect(sizes.page).toBeLessThanOrEqual(sizes.viewport);
    expect(sizes.table).toBeGreaterThan(sizes.box);
    await page.getByRole('button', { name: `Open callback ${cb.id}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const box = (await dialog.boundingBox())!;
    expect(box).toEqual({ x: 0, y: 0, width: 320, height: 640 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    clean(watched);
    await context.close();
  });

  test('dark mode follows the system and the toggle', async () => {
    const { context, watched } = await newContext(browser, { colorScheme: 'dark' });
    const page = await context.newPage();
    await postCallback(server.base, failed());
    await login(page, server.base, tokens.ui);
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

  beforeAll(async () => {
    server = new Server(bin, '');
    await server.start();
    const job = randomUUID();
    await postCallback(server.base, step(job, 'extract-key-points', 1850));
    await postCallback(server.base, step(job, 'write-summary', 2410));
    await postCallback(server.base, failed());
    await postCallback(server.base, step(randomUUID(), 'classify', 640));
    done = await postCallback(server.base, completed(job, { cost_data: { total_tokens: 4260, cost_usd: 0.0213, llm_calls: [{ model: 'gpt-4o-mini', tokens: 1850 }, { model: 'gpt-4o-mini', tokens: 2410 }] } }));
  });

  afterAll(async () => {
    await server?.stop();
  });

  test.each([
    ['desktop-light.png', { colorScheme: 'light' as const }],
    ['desktop-dark.png', { colorScheme: 'dark' as const }],
  ])('%s', async (file, options) => {
    const { context } = await newContext(browser, options);
    const page = await context.newPage();
    await login(page, server.base, tokens.ui);
    await page.getByRole('button', { name: `Open callback ${done.id}` }).click();
    await page.getByRole('dialog').getByTestId('viewed-by').filter({ hasText: 'ui' }).waitFor();
    await sleep(300);
    await page.screenshot({ path: join(screenshotDir()!, file) });
    await context.close();
  });

  test('phone.png', async () => {
    const { context } = await newContext(browser, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    await login(page, server.base, tokens.ui);
    await page.getByTestId('history-row').nth(4).waitFor();
    await page.screenshot({ path: join(screenshotDir()!, 'phone.png') });
    await context.close();
  });
});

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
