import { expect, test } from 'vitest';
import { jobTotals, ordered, payloadTokens, stepTokens, type TimelineEntry } from './timeline';

const step = (id: string, t: string, payload: object): TimelineEntry => ({ id, eventType: 'llm.step.completed', stepId: id, createTime: t, payload });

test('steps are summed when the workflow has not finished', () => {
  const entries = [
    step('s1', '2025-01-01T00:00:01Z', { tokens: { prompt_tokens: 10, completion_tokens: 5 }, cost_usd: 0.01, duration_ms: 100 }),
    step('s2', '2025-01-01T00:00:02Z', { tokens: { total_tokens: 30 }, cost_usd: 0.02, duration_ms: 200 }),
  ];
  const t = jobTotals(entries);
  expect(t).toMatchObject({ tokens: 45, durationMs: 300, steps: 2, source: 'steps' });
  expect(t.costUsd).toBeCloseTo(0.03);
});

test("the workflow's own cost data wins", () => {
  const entries = [
    step('s1', '2025-01-01T00:00:01Z', { tokens: { total_tokens: 10 }, cost_usd: 0.01, duration_ms: 100 }),
    { id: 'w', eventType: 'workflow.completed', stepId: '', createTime: '2025-01-01T00:00:03Z', payload: { cost_data: { total_tokens: 1234, cost_usd: 0.5 }, duration_ms: 4321 } },
  ];
  expect(jobTotals(entries)).toEqual({ tokens: 1234, costUsd: 0.5, durationMs: 4321, steps: 1, source: 'workflow' });
});

test('odd payloads count as zero', () => {
  expect(jobTotals([step('s', 't', { tokens: 'many', cost_usd: '1' })])).toMatchObject({ tokens: 0, costUsd: 0 });
  expect(jobTotals([])).toMatchObject({ source: 'none' });
  expect(stepTokens(7)).toBe(7);
});

test('order: by time, steps before the outcome on ties', () => {
  const entries = [
    { id: 'w', eventType: 'workflow.failed', stepId: '', createTime: 'T2', payload: {} },
    step('s2', 'T2', {}),
    step('s1', 'T1', {}),
  ];
  expect(ordered(entries).map((e) => e.id)).toEqual(['s1', 's2', 'w']);
});

test('tokens in every shape the sender and the samples use', () => {
  expect(payloadTokens({ tokens: { prompt: 980, completion: 230, total: 1210 } })).toBe(1210);
  expect(payloadTokens({ tokens: { prompt: 980, completion: 230 } })).toBe(1210);
  expect(payloadTokens({ tokens: { prompt_tokens: 10, completion_tokens: 5 } })).toBe(15);
  expect(payloadTokens({ tokens: { input_tokens: 7, output_tokens: 3 } })).toBe(10);
  expect(payloadTokens({ usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } })).toBe(3);
  expect(payloadTokens({ cost_data: { total_tokens: 1834 } })).toBe(1834);
  expect(payloadTokens({ tokens: 42 })).toBe(42);
  expect(payloadTokens({})).toBe(0);
  expect(stepTokens({ prompt: 1, completion: 2, total: 3 })).toBe(3);
});
