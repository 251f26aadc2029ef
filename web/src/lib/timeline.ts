// Job timeline: one job's callbacks in order, and totals of tokens, cost and
// duration read from the payloads (the LLM service's fields).

export interface TimelineEntry {
  id: string;
  eventType: string;
  stepId: string;
  createTime: string;
  payload: unknown;
}

export interface Totals {
  tokens: number;
  costUsd: number;
  durationMs: number;
  steps: number;
  /** source says where the totals come from. */
  source: 'workflow' | 'steps' | 'none';
}

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** stepTokens reads an llm.step.completed payload's token count. */
export function stepTokens(tokens: unknown): number {
  const t = obj(tokens);
  if (!t) return num(tokens);
  if (typeof t.total_tokens === 'number') return num(t.total_tokens);
  return num(t.prompt_tokens) + num(t.completion_tokens) + num(t.input_tokens) + num(t.output_tokens);
}

/** ordered sorts by receive time: steps first, then the outcome, on ties. */
export function ordered<T extends TimelineEntry>(entries: T[]): T[] {
  const rank = (e: TimelineEntry) => (e.eventType === 'llm.step.completed' ? 0 : 1);
  return [...entries].sort((a, b) => a.createTime.localeCompare(b.createTime) || rank(a) - rank(b));
}

/**
 * jobTotals sums the steps; when the workflow completed with cost_data, its
 * figures are the job's own totals and win (the steps may be missing when
 * debug callbacks are off). Duration: the workflow's duration_ms if given.
 */
export function jobTotals(entries: TimelineEntry[]): Totals {
  const t: Totals = { tokens: 0, costUsd: 0, durationMs: 0, steps: 0, source: 'none' };
  for (const e of entries) {
    const p = obj(e.payload);
    if (!p || e.eventType !== 'llm.step.completed') continue;
    t.steps += 1;
    t.tokens += stepTokens(p.tokens);
    t.costUsd += num(p.cost_usd);
    t.durationMs += num(p.duration_ms);
    t.source = 'steps';
  }
  for (const e of entries) {
    const p = obj(e.payload);
    if (!p || (e.eventType !== 'workflow.completed' && e.eventType !== 'workflow.failed')) continue;
    const cost = obj(p.cost_data);
    if (cost) {
      t.tokens = num(cost.total_tokens);
      t.costUsd = num(cost.cost_usd);
      t.source = 'workflow';
    }
    if (typeof p.duration_ms === 'number') {
      t.durationMs = num(p.duration_ms);
      t.source = 'workflow';
    }
  }
  return t;
}
