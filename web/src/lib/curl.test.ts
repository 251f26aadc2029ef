import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { curlCommand, hmacSha256Hex, shellQuote, validTarget } from './curl';

test('the HMAC is the sender\'s: hex HMAC-SHA256 of the raw body, secret trimmed', async () => {
  const body = new TextEncoder().encode('{"event":"workflow.completed","note":"it\'s ✓"}');
  const want = createHmac('sha256', 'secret-1').update(body).digest('hex');
  expect(await hmacSha256Hex('  secret-1\n', body)).toBe(want);
});

test('the shell receives the body byte for byte', () => {
  const body = `{"a":"it's $HOME \`x\` \\\\ \\n \\"q\\""}`;
  const cmd = curlCommand({ url: 'http://127.0.0.1:1/x', body: new TextEncoder().encode(body), signature: 'ab', eventType: 'workflow.completed', userAgent: "LLM Service/1.0 (it's)" });
  // Run the printf half: what curl would read on its standard input.
  const printed = execFileSync('sh', ['-c', cmd.split(' |\n')[0]!]).toString();
  expect(printed).toBe(body);
  expect(cmd).toContain("-H 'X-Webhook-Signature: sha256=ab'");
  expect(cmd).toContain("-H 'User-Agent: LLM Service/1.0 (it'\\''s)'");
  expect(shellQuote("a'b")).toBe("'a'\\''b'");
});

test('only http(s) targets', () => {
  expect(validTarget('https://example.com/hook')).toBe(true);
  expect(validTarget('http://127.0.0.1:3000/x')).toBe(true);
  expect(validTarget('file:///etc/passwd')).toBe(false);
  expect(validTarget('not a url')).toBe(false);
});
