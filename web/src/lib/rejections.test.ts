import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import reasons from 'virtual:webhook-reasons';
import { explain, hints } from './rejections';
import { parseWebhookReasons, plain } from './reasonDocs';

const docs = parseWebhookReasons(readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8'));

test('the build reads the same explanations as docs/errors.md holds', () => {
  expect(reasons).toEqual(docs);
});

test('every hint is about a reason the docs list', () => {
  for (const reason of Object.keys(hints)) expect(Object.keys(docs), reason).toContain(reason);
});

test('signature_mismatch: the docs explain it and the hint says what to check', () => {
  const { doc, hint } = explain('signature_mismatch', docs);
  expect(doc?.http).toBe('401');
  expect(doc?.why.join(' ')).toContain('Wrong secret');
  expect(doc?.situations.some((s) => s.includes('re-serialised'))).toBe(true);
  expect(hint).toContain("sender's secret differs");
  expect(hint).toContain('re-serialised by a proxy');
});

test('an unknown reason has neither', () => {
  expect(explain('no_such_reason', docs)).toEqual({ doc: null, hint: null });
  expect(explain('constructor', docs)).toEqual({ doc: null, hint: null });
});

test('the parser reads the webhook table only, cells as plain text', () => {
  const md = [
    '## Webhook: x',
    '| Situation | HTTP | gRPC | reason | Why |',
    '|---|---|---|---|---|',
    '| Valid | 200 | OK | — | Stored. |',
    '| `Bad` **sig** | 401 | UNAUTHENTICATED | `signature_mismatch` | See [the table](x.go). |',
    '## Admin API',
    '| Situation | HTTP | gRPC | reason |',
    '| Bad id | 400 | INVALID_ARGUMENT | `invalid_id` |',
  ].join('\n');
  expect(parseWebhookReasons(md)).toEqual({ signature_mismatch: { reason: 'signature_mismatch', http: '401', situations: ['Bad sig'], why: ['See the table.'] } });
  expect(plain(' a  `b` ')).toBe('a b');
});
