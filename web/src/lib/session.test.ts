import { expect, test } from 'vitest';
import { credentialKey, tokenFromFragment, tokenFromInput } from './session';

test('the login URL fragment gives the token', () => {
  expect(tokenFromFragment('#token=abc%2Bdef')).toBe('abc+def');
  expect(tokenFromFragment('#other=1')).toBeNull();
  expect(tokenFromFragment('')).toBeNull();
});

test('pasted input may be a token or a login URL', () => {
  expect(tokenFromInput('  secret-token-123456  ')).toBe('secret-token-123456');
  expect(tokenFromInput('http://127.0.0.1:8080/#token=xyz')).toBe('xyz');
  expect(tokenFromInput('http://127.0.0.1:8080/')).toBeNull();
  expect(tokenFromInput('')).toBeNull();
});

test('credential keys are stable, distinct and do not contain the token', () => {
  expect(credentialKey('a')).toBe(credentialKey('a'));
  expect(credentialKey('a')).not.toBe(credentialKey('b'));
  expect(credentialKey('secret')).toMatch(/^[0-9a-f]{16}$/);
});
