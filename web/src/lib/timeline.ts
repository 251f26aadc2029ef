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

/** at reads a dotted path ("tokens.total") of a payload; undefined when absent. */
function at(payload: unknown, path: string): unknown {
  let v: unknown = payload;
  for (const k of path.split('.')) {
    const o = obj(v);
    if (!o || !Object.hasOwn(o, k)) return undefined;
    v = o[k];
  }
  return v;
}

function first(payload: unknown, paths: string[]): number | null {
  for (const p of paths) {
    const v = at(payload, p);
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

// The members each figure is read from, first found wins: the same lists as
// the server's (internal/callback/facts.go). The LLM service sends
// tokens{prompt,completion,total} in steps and cost_data{total_tokens} in
// workflow.completed; OpenAI-style names (usage{prompt_tokens,…}) are read too.
const promptFrom = ['tokens.prompt', 'tokens.prompt_tokens', 'tokens.input_tokens', 'usage.prompt_tokens', 'cost_data.prompt_tokens', 'prompt_tokens'];
const completionFrom = ['tokens.completion', 'tokens.completion_tokens', 'tokens.output_tokens', 'usage.completion_tokens', 'cost_data.completion_tokens', 'completion_tokens'];
const totalFrom = ['tokens.total', 'tokens.total_tokens', 'usage.total_tokens', 'cost_data.total_tokens', 'total_tokens', 'tokens'];
const costFrom = ['cost_usd', 'cost_data.cost_usd', 'cost_data.total_cost', 'cost_data.total_cost_usd', 'total_cost', 'total_cost_usd'];

/** payloadTokens reads a payload's token count, in any of the shapes senders use; prompt + completion when no total. */
export function payloadTokens(payload: unknown): number {
  const total = first(payload, totalFrom);
  if (total !== null) return total;
  return (first(payload, promptFrom) ?? 0) + (first(payload, completionFrom) ?? 0);
}

/** payloadCost reads a payload's cost in US dollars. */
export function payloadCost(payload: unknown): number {
  return first(payload, costFrom) ?? 0;
}

/** stepTokens reads a "tokens" member (an object of counts, or a number). */
export function stepTokens(tokens: unknown): number {
  return payloadTokens({ tokens });
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
    t.tokens += payloadTokens(p);
    t.costUsd += payloadCost(p);
    t.durationMs += num(p.duration_ms);
    t.source = 'steps';
  }
  for (const e of entries) {
    const p = obj(e.payload);
    if (!p || (e.eventType !== 'workflow.completed' && e.eventType !== 'workflow.failed')) continue;
    if (obj(p.cost_data)) {
      t.tokens = payloadTokens(p);
      t.costUsd = payloadCost(p);
      t.source = 'workflow';
    }
    if (typeof p.duration_ms === 'number') {
      t.durationMs = num(p.duration_ms);
      t.source = 'workflow';
    }
  }
  return t;
}
