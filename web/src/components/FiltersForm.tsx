import { useEffect, useId, useState, type FormEvent } from 'react';
import { emptyFilters, fromLocalInput, toLocalInput, type Filters } from '../lib/filters';
import { phoneQuery } from './usePhone';

/** FiltersForm edits the history filters; applying them changes the URL. */
export function FiltersForm({ filters, onChange }: { filters: Filters; onChange(f: Filters): void }) {
  const [draft, setDraft] = useState(filters);
  // A new URL (back button, a toast's link) resets the draft.
  const shown = JSON.stringify({ ...filters, page: '', start: 0 });
  useEffect(() => setDraft(JSON.parse(shown) as Filters), [shown]);
  const id = useId();
  const set = <K extends keyof Filters>(k: K, v: Filters[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onChange(draft);
  };
  const active = [filters.status, filters.event, filters.workflow, filters.job, filters.after, filters.before].filter(Boolean).length + (filters.unviewed ? 1 : 0);
  // On phones the filters start folded, so the table is what one sees first.
  const [unfolded] = useState(() => !window.matchMedia(phoneQuery).matches || active > 0);
  return (
    <details className="filters-box" open={unfolded}>
      <summary className="filters-summary">
        Filters{active > 0 ? ` (${active} active)` : ''}
      </summary>
    <form onSubmit={submit} className="filters" aria-label="Filters" data-testid="filters">
      <label htmlFor={`${id}-status`}>
        Status
        <select id={`${id}-status`} className="input" value={draft.status} onChange={(e) => set('status', e.target.value as Filters['status'])}>
          <option value="">any</option>
          <option value="received">received</option>
          <option value="processed">processed</option>
          <option value="error">error</option>
        </select>
      </label>
      <label htmlFor={`${id}-event`}>
        Event type
        <input id={`${id}-event`} className="input" list={`${id}-events`} value={draft.event} onChange={(e) => set('event', e.target.value)} />
        <datalist id={`${id}-events`}>
          <option value="workflow.completed" />
          <option value="workflow.failed" />
          <option value="llm.step.completed" />
        </datalist>
      </label>
      <label htmlFor={`${id}-workflow`}>
        Workflow
        <input id={`${id}-workflow`} className="input" value={draft.workflow} onChange={(e) => set('workflow', e.target.value)} />
      </label>
      <label htmlFor={`${id}-job`}>
        Job ID
        <input id={`${id}-job`} className="input font-mono" value={draft.job} onChange={(e) => set('job', e.target.value)} />
      </label>
      <label htmlFor={`${id}-after`}>
        Received from
        <input id={`${id}-after`} className="input" type="datetime-local" step="0.001" value={toLocalInput(draft.after)} onChange={(e) => set('after', fromLocalInput(e.target.value))} />
      </label>
      <label htmlFor={`${id}-before`}>
        until
        <input id={`${id}-before`} className="input" type="datetime-local" step="0.001" value={toLocalInput(draft.before)} onChange={(e) => set('before', fromLocalInput(e.target.value))} />
      </label>
      <label htmlFor={`${id}-unviewed`} className="check">
        <input id={`${id}-unviewed`} type="checkbox" checked={draft.unviewed} onChange={(e) => set('unviewed', e.target.checked)} />
        Unviewed only
      </label>
      <span className="flex items-end gap-2">
        <button type="submit" className="btn-primary">
          Apply
        </button>
        <button type="button" className="btn" onClick={() => onChange({ ...emptyFilters, size: filters.size })}>
          Clear
        </button>
      </span>
    </form>
    </details>
  );
}
