import { create } from '@bufbuild/protobuf';
import { DurationSchema } from '@bufbuild/protobuf/wkt';
import { expect, test } from 'vitest';
import { consoleHref, formatInterval, lastError, statusLook } from './alerts';

test('every delivery status reads as a word and a symbol, not a colour alone', () => {
  for (const s of ['pending', 'retrying', 'sending', 'sent', 'failed', 'cancelled']) {
    const look = statusLook(s);
    expect(look.label).toBe(s);
    expect(look.symbol).not.toBe('?');
    expect(look.help).not.toBe('');
  }
  // Distinct symbols: two statuses never read the same without colour.
  const symbols = ['pending', 'retrying', 'sending', 'sent', 'failed', 'cancelled'].map((s) => statusLook(s).symbol);
  expect(new Set(symbols).size).toBe(symbols.length);
  expect(statusLook('exploded')).toMatchObject({ label: 'exploded', symbol: '?', tone: 'badge-gray' });
  expect(statusLook('').label).toBe('unknown');
});

test('intervals read as the configuration writes them', () => {
  const d = (seconds: number, nanos = 0) => create(DurationSchema, { seconds: BigInt(seconds), nanos });
  expect(formatInterval(undefined)).toBe('—');
  expect(formatInterval(d(0))).toBe('0s');
  expect(formatInterval(d(30))).toBe('30s');
  expect(formatInterval(d(600))).toBe('10m');
  expect(formatInterval(d(5400))).toBe('1h30m');
  expect(formatInterval(d(3661))).toBe('1h1m1s');
  expect(formatInterval(d(1, 500_000_000))).toBe('2s');
});

test('an alert link opens this console, at the page where it lives now', () => {
  // The history's old address (alert messages link to /?…) opens /callbacks.
  expect(consoleHref('https://callbackd.example.com/?workflow=translate&after=2025-12-20T10%3A30%3A00Z')).toBe('/callbacks?workflow=translate&after=2025-12-20T10%3A30%3A00Z');
  expect(consoleHref('https://callbackd.example.com/')).toBe('/');
  expect(consoleHref('http://127.0.0.1:8080/jobs/57uck000')).toBe('/jobs/57uck000');
  expect(consoleHref('https://callbackd.example.com/callbacks?status=error')).toBe('/callbacks?status=error');
  expect(consoleHref('javascript:alert(1)')).toBeNull();
  expect(consoleHref('')).toBeNull();
  expect(consoleHref('not a url')).toBeNull();
});

test('the last error is the latest attempt’s', () => {
  expect(lastError([])).toBe('');
  expect(
    lastError([
      { attempt: 1, error: 'HTTP 500' },
      { attempt: 2, error: 'connection refused' },
    ]),
  ).toBe('connection refused');
  expect(
    lastError([
      { attempt: 3, error: 'late' },
      { attempt: 1, error: 'early' },
    ]),
  ).toBe('late');
});
