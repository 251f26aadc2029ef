import { expect, test } from 'vitest';
import { previewModel, previewParts, previewText } from './preview';

test('the fields that matter come first', () => {
  const c = { errorMessage: 'timed out', stepId: 'draft', preview: '{"debug":{"model":"gpt-4o-mini","prompt":"x"},"event":"llm.step.completed"' };
  expect(previewParts(c).map((p) => p.label)).toEqual(['error', 'step', 'model', '']);
  expect(previewText(c)).toMatch(/^error: timed out · step: draft · model: gpt-4o-mini · \{"debug"/);
});

test('no model, no step: the preview itself', () => {
  expect(previewText({ errorMessage: '', stepId: '', preview: '{"a":1}' })).toBe('{"a":1}');
  expect(previewModel('{"model": "claude-3\\"x"}')).toBe('claude-3\\"x');
  expect(previewModel('{"models":[]}')).toBe('');
});
