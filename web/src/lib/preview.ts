// What a history row shows of a payload: lists carry only the first 200
// characters of the body (keys sorted, so "cost_data" comes before
// "workflow_name"), so the fields an admin scans for — the error, the step,
// the model — are put first, then the rest of the preview.

import type { CallbackSummary } from './events';

/** previewModel finds a "model" value in a body's first characters ("" when none). */
export function previewModel(preview: string): string {
  const m = /"model"\s*:\s*"((?:[^"\\]|\\.){1,80})"/.exec(preview);
  return m?.[1] ?? '';
}

/** PreviewPart is one labelled piece of a row's preview. */
export interface PreviewPart {
  label: string;
  value: string;
}

/** previewParts lists the preview's pieces, the fields that matter first. */
export function previewParts(c: Pick<CallbackSummary, 'errorMessage' | 'stepId' | 'preview'>): PreviewPart[] {
  const parts: PreviewPart[] = [];
  if (c.errorMessage) parts.push({ label: 'error', value: c.errorMessage });
  if (c.stepId) parts.push({ label: 'step', value: c.stepId });
  const model = previewModel(c.preview);
  if (model) parts.push({ label: 'model', value: model });
  if (c.preview) parts.push({ label: '', value: c.preview });
  return parts;
}

/** previewText is previewParts as one line, for hover text and cards. */
export function previewText(c: Pick<CallbackSummary, 'errorMessage' | 'stepId' | 'preview'>): string {
  return previewParts(c)
    .map((p) => (p.label ? `${p.label}: ${p.value}` : p.value))
    .join(' · ');
}
