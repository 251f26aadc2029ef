import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { firstCallbackCommand } from './firstCallback';

test('the command signs the body as the sender does', () => {
  const cmd = firstCallbackCommand('http://127.0.0.1:1', "s3cret'x", 'job-1');
  // Everything but the curl line: the shell variables, then print them.
  const lines = cmd.split('\n');
  const out = execFileSync('sh', ['-c', `${lines.slice(0, 3).join('\n')}\nprintf '%s\\n%s' "$SIG" "$BODY"`]).toString();
  const [sig, body] = out.split('\n');
  expect(JSON.parse(body!)).toMatchObject({ event: 'workflow.completed', job_id: 'job-1' });
  expect(sig).toBe(createHmac('sha256', "s3cret'x").update(body!).digest('hex'));
  expect(lines[3]).toContain("'http://127.0.0.1:1/api/webhooks/llm-callback'");
});
