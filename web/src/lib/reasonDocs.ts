// The webhook's refusal reasons as docs/errors.md explains them. The build
// reads the docs (vite.config.ts, module virtual:webhook-reasons), so the
// Rejected deliveries page says what the docs say, and the committed build
// goes stale — and its test fails — when the docs change.

/** ReasonDoc is what docs/errors.md says about one reason of the webhook table. */
export interface ReasonDoc {
  reason: string;
  /** http is the status the reason is answered with, e.g. "401". */
  http: string;
  /** situations are the table's rows for the reason ("Situation" cells), as plain text. */
  situations: string[];
  /** why are the rows' explanations ("Why" cells), as plain text, empties left out. */
  why: string[];
}

/** plain turns a markdown table cell into text: no backticks, emphasis or link targets. */
export function plain(cell: string): string {
  return cell
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\*\*([^*]*)\*\*/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

/** parseWebhookReasons reads the "## Webhook" table of docs/errors.md, by reason. */
export function parseWebhookReasons(markdown: string): Record<string, ReasonDoc> {
  return parseSectionReasons(markdown, '## Webhook', 5);
}

/** parseReplayReasons reads the ReplayCallback table of docs/errors.md (four columns, no "Why"), by reason. */
export function parseReplayReasons(markdown: string): Record<string, ReasonDoc> {
  return parseSectionReasons(markdown, '## Admin API: `ReplayCallback`', 4);
}

/** parseSectionReasons reads the status table of the section whose heading starts with heading. */
function parseSectionReasons(markdown: string, heading: string, minCells: number): Record<string, ReasonDoc> {
  const out: Record<string, ReasonDoc> = {};
  let inSection = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('## ')) {
      inSection = line.startsWith(heading);
      continue;
    }
    if (!inSection || !line.startsWith('|') || line.startsWith('|---')) continue;
    const cells = line.replace(/^\||\|$/g, '').split('|');
    if (cells.length < minCells || cells[1]?.trim() === 'HTTP') continue;
    const reason = /`([a-z0-9_]+)`/.exec(cells[3] ?? '')?.[1];
    if (!reason) continue; // a success row
    const http = /^\d{3}/.exec(cells[1]?.trim() ?? '')?.[0] ?? '';
    const doc = (out[reason] ??= { reason, http, situations: [], why: [] });
    doc.situations.push(plain(cells[0] ?? ''));
    const why = plain(cells.slice(4).join('|'));
    if (why) doc.why.push(why);
  }
  return out;
}
