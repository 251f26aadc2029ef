// End-to-end: single sign-on through a real OpenID Provider (tools/oidcprovider,
// zitadel/oidc's example OP) that the test starts on loopback, in real
// Chromium, against two replicas of callbackd on one PostgreSQL database
// (SQLite, one replica, when CALLBACKD_E2E_POSTGRES_URL is unset outside CI).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { completed, freePort, launchChromium, newContext, postCallback, Provider, Server, serverBinary, sleep, tokens, type Watched } from './harness';

const pgURL = process.env.CALLBACKD_E2E_POSTGRES_URL ?? '';
if (!pgURL && process.env.CI) throw new Error('CI: set CALLBACKD_E2E_POSTGRES_URL so that the replica run is not skipped');

let browser: Browser;
const provider = new Provider();
let primary: Server; // the redirect URL names this replica
let replica: Server | null = null; // a second replica on the same PostgreSQL
let shortLived: Server; // sessions that expire within seconds

function clean(w: Watched) {
  expect(w.violations, 'CSP violations').toEqual([]);
  expect(w.dialogs, 'dialogs').toEqual([]);
  expect(w.errors, 'page errors').toEqual([]);
}

const live = (page: Page) => page.getByTestId('connection').and(page.locator('[data-status="live"]'));

/** signIn goes through the provider's own login page as user, and returns the callback URL the provider sent the browser to. */
async function signIn(page: Page, base: string, user: string): Promise<string> {
  let callbackURL = '';
  const onRequest = (r: { url(): string }) => {
    if (r.url().includes('/auth/callback?')) callbackURL = r.url();
  };
  page.on('request', onRequest);
  await page.goto(base);
  await page.getByTestId('oidc-login').click();
  await page.getByLabel('Username:').fill(user);
  await page.getByLabel('Password:').fill('password');
  await page.getByRole('button', { name: 'Login' }).click();
  await page.waitForURL((u) => u.origin === new URL(base).origin && !u.pathname.startsWith('/auth/'));
  page.off('request', onRequest);
  expect(callbackURL).not.toBe('');
  return callbackURL;
}

describe('single sign-on (OIDC)', () => {
  beforeAll(async () => {
    const bin = serverBinary();
    browser = await launchChromium();
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const at = (p: number) => `http://127.0.0.1:${p}`;
    await provider.start([`${at(a)}/auth/callback`, `${at(c)}/auth/callback`], [`${at(a)}/`, `${at(c)}/`]);
    const oidcArgs = (redirect: number) => [
      '--oidc-issuer', provider.issuer,
      '--oidc-client-id', 'callbackd',
      '--oidc-client-secret', 'callbackd-secret',
      '--oidc-redirect-url', `${at(redirect)}/auth/callback`,
      '--oidc-scopes', 'openid,profile,email,groups',
      '--oidc-admin-claim', 'groups=callbackd-admins',
      '--oidc-provider-name', 'Zitadel',
      '--login-token-form',
    ];
    primary = new Server(bin, pgURL, { port: a, args: oidcArgs(a) });
    await primary.start();
    if (pgURL) {
      replica = new Server(bin, pgURL, { port: b, args: oidcArgs(a) });
      await replica.start();
    }
    shortLived = new Server(bin, '', { port: c, args: [...oidcArgs(c), '--session-lifetime', '4s'] });
    await shortLived.start();
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([primary?.stop(), replica?.stop(), shortLived?.stop()]);
    provider.stop();
  });

  test('an admin signs in: the console works, toasts arrive, every tab and the other replica are signed in, logout ends it', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await page.goto(primary.base);
    // Both ways in are offered (--login-token-form).
    expect(await page.getByTestId('oidc-login').textContent()).toBe('Sign in with Zitadel');
    await page.getByLabel('Admin token or login URL').waitFor();
    await signIn(page, primary.base, 'ada');
    await live(page).waitFor({ timeout: 15_000 });
    const cookies = await context.cookies(primary.base);
    const session = cookies.find((c) => c.name === 'callbackd-session');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Strict');
    expect(cookies.find((c) => c.name === 'callbackd-login'), 'the login cookie is cleared').toBeUndefined();

    const cb = await postCallback(primary.base, completed());
    const toast = page.locator('[data-sonner-toast]', { hasText: cb.jobId });
    await toast.waitFor({ timeout: 10_000 });
    await toast.getByRole('button', { name: 'View details' }).click();
    const dialog = page.getByRole('dialog', { name: /workflow\.completed/ });
    await dialog.waitFor();
    // The admin in "viewed by" is the provider's person.
    await expect.poll(() => dialog.getByTestId('viewed-by').textContent()).toContain('ada@example.com');
    await page.keyboard.press('Escape');

    // A new tab of the browser is signed in: no sign-in page.
    const second = await context.newPage();
    await second.goto(primary.base);
    await live(second).waitFor({ timeout: 15_000 });
    expect(await second.getByTestId('oidc-login').count()).toBe(0);

    // The session is in PostgreSQL: the other replica accepts it, and its
    // stream tells of a callback that arrived through the first.
    if (replica) {
      const other = await context.newPage();
      await other.goto(`${replica.base}/callbacks`);
      await live(other).waitFor({ timeout: 15_000 });
      const row = other.locator(`[data-testid="history-row"][data-id="${cb.id}"]`);
      await row.waitFor();
      expect(await row.getAttribute('data-viewed')).toBe('true');
      const next = await postCallback(primary.base, completed());
      await other.locator(`[data-testid="history-row"][data-id="${next.id}"]`).waitFor({ timeout: 10_000 });
      await other.close();
    }

    // Logout ends the session here and at the provider, which sends the
    // browser back to the sign-in page.
    await second.close();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByTestId('oidc-login').waitFor({ timeout: 15_000 });
    expect((await context.cookies(primary.base)).find((c) => c.name === 'callbackd-session')).toBeUndefined();
    const after = await context.newPage();
    await after.goto(primary.base);
    await after.getByTestId('oidc-login').waitFor();
    expect(await live(after).count()).toBe(0);
    clean(watched);
    await context.close();
  });

  test('a signed-in person who is not an admin sees "not an admin", not a sign-in loop', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await signIn(page, primary.base, 'bob');
    const notAdmin = page.getByTestId('not-admin');
    await notAdmin.waitFor();
    expect(await notAdmin.textContent()).toContain('bob@example.com');
    expect(await notAdmin.textContent()).toContain('not an admin');
    expect(page.url()).toBe(`${primary.base}/`);
    await sleep(1000); // room for a wrong redirect back to the provider
    expect(page.url()).toBe(`${primary.base}/`);
    expect((await context.cookies(primary.base)).find((c) => c.name === 'callbackd-session')).toBeUndefined();
    clean(watched);
    await context.close();
  });

  test('a forged or replayed state or code is refused', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    const callbackURL = await signIn(page, primary.base, 'ada');
    await live(page).waitFor({ timeout: 15_000 });

    // The same callback again, in the same browser: its login was used.
    const replayed = await context.newPage();
    await replayed.goto(callbackURL);
    await replayed.getByTestId('login-message').or(live(replayed)).first().waitFor();
    expect(new URL(replayed.url()).search).toBe('');
    // Still signed in (the replay ended nothing), and the refusal was said.
    await live(replayed).waitFor();

    // An attacker's browser (no login cookie) with the real callback, and
    // one with a forged state: both refused, no session made.
    for (const url of [callbackURL, `${primary.base}/auth/callback?code=forged&state=forged`]) {
      const attacker = await newContext(browser);
      const p = await attacker.context.newPage();
      await p.goto(url);
      const msg = p.getByTestId('login-message');
      await msg.waitFor();
      expect(await msg.textContent()).toContain('did not come from a sign-in this browser started');
      expect((await attacker.context.cookies(primary.base)).find((c) => c.name === 'callbackd-session')).toBeUndefined();
      clean(attacker.watched);
      await attacker.context.close();
    }

    // A real state with a forged code: the provider refuses the code.
    const fresh = await newContext(browser);
    const p = await fresh.context.newPage();
    // The context's request API shares the browser's cookies: it starts a
    // login (the login cookie is set) without following the redirect.
    const started = await fresh.context.request.get(`${primary.base}/auth/login`, { maxRedirects: 0 });
    expect(started.status()).toBe(303);
    const state = new URL(started.headers()['location'] ?? '').searchParams.get('state');
    expect(state).toBeTruthy();
    await p.goto(`${primary.base}/auth/callback?code=forged-code&state=${state}`);
    const msg = p.getByTestId('login-message');
    await msg.waitFor();
    expect(await msg.textContent()).toContain('did not sign you in');
    expect((await fresh.context.cookies(primary.base)).find((c) => c.name === 'callbackd-session')).toBeUndefined();
    await fresh.context.close();

    // The API says the same to a client that is not a browser.
    const res = await fetch(`${primary.base}/auth/callback?code=x&state=y`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { reason: string }).reason).toBe('sign_in_state_mismatch');
    clean(watched);
    await context.close();
  });

  test('cookies are refused from other origins and without the CSRF token; bearer tokens keep working', async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    await signIn(page, primary.base, 'ada');
    await live(page).waitFor({ timeout: 15_000 });
    const cookie = (await context.cookies(primary.base)).find((c) => c.name === 'callbackd-session')!;
    const call = (headers: Record<string, string>) =>
      fetch(`${primary.base}/callbacks.v1.CallbackAdminService/ListCallbacks`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Cookie: `callbackd-session=${cookie.value}`, ...headers },
        body: '{}',
      });
    const csrf = ((await (await fetch(`${primary.base}/auth/session`, { headers: { Cookie: `callbackd-session=${cookie.value}` } })).json()) as { csrf_token: string }).csrf_token;
    expect((await call({ 'X-CSRF-Token': csrf })).status).toBe(200);
    expect((await call({})).status).toBe(403);
    expect((await call({ 'X-CSRF-Token': csrf, Origin: 'http://evil.example' })).status).toBe(403);
    expect((await call({ 'X-CSRF-Token': csrf, 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    const bearer = await fetch(`${primary.base}/callbacks.v1.CallbackAdminService/ListCallbacks`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tokens.ui}` },
      body: '{}',
    });
    expect(bearer.status).toBe(200);
    // A page of another origin cannot use the cookie: the browser's own
    // fetch from there is refused (no CORS, and the cookie is SameSite=Strict).
    await context.close();
  });

  test('an expired session goes back to sign-in', async () => {
    const { context, watched } = await newContext(browser);
    const page = await context.newPage();
    await signIn(page, shortLived.base, 'ada');
    await live(page).waitFor({ timeout: 15_000 });
    await sleep(4500); // --session-lifetime 4s
    await page.reload();
    const msg = page.getByTestId('login-message');
    await msg.waitFor();
    expect(await msg.textContent()).toContain('session ended');
    await page.getByTestId('oidc-login').waitFor();
    clean(watched);
    await context.close();
  });
});


