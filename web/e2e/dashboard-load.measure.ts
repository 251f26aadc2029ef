// Dashboard load time, measured in Chromium against a running callbackd
// (the 10,000,000-callback history of issue 14: BENCHMARKS.md, "Issue 15").
// Not a test: it asserts nothing about speed and is not in the e2e suite.
// Run it with `npm run measure:dashboard` and:
//
//   CALLBACKD_URL    the server (e.g. http://127.0.0.1:8080)
//   CALLBACKD_TOKEN  an admin token of that server
//   RUNS             loads per range (default 10)
//
// Each load is a fresh navigation to /?range=R (the dashboard) in a signed-in tab;
// the time runs from the navigation to the dashboard holding its data
// (data-loaded) and its charts drawn, so it includes the page, the script,
// GetCallbackStats and the rendering.

import { test } from 'vitest';
import { chromium } from 'playwright-core';
import { chromiumPath, login } from './harness';

const base = process.env.CALLBACKD_URL ?? '';
const token = process.env.CALLBACKD_TOKEN ?? '';
const runs = Number(process.env.RUNS ?? '10');

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
}

test('dashboard load time', { timeout: 30 * 60_000 }, async () => {
  if (!base || !token) throw new Error('set CALLBACKD_URL and CALLBACKD_TOKEN');
  const browser = await chromium.launch({ executablePath: chromiumPath });
  try {
    const page = await (await browser.newContext()).newPage();
    await login(page, base, token);
    for (const range of ['24h', '7d', '30d']) {
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await page.goto(`${base}/?range=${range}`);
        await page.locator('[data-testid="dashboard"][data-loaded="true"]').waitFor({ timeout: 120_000 });
        await page.locator('[data-testid="chart-failure-rate"] canvas').first().waitFor({ timeout: 120_000 });
        ms.push(performance.now() - start);
      }
      const f = (x: number) => x.toFixed(0).padStart(6);
      console.log(`dashboard ${range.padEnd(4)} runs ${runs}  p50 ${f(quantile(ms, 0.5))} ms  p90 ${f(quantile(ms, 0.9))} ms  max ${f(Math.max(...ms))} ms`);
    }
  } finally {
    await browser.close();
  }
});
