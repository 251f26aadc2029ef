import { JsonView, type Props as JsonViewProps } from 'react-json-view-lite';

// Our own class names (styled in index.css for both themes) instead of the
// library's stylesheet.
const styles: NonNullable<JsonViewProps['style']> = {
  container: 'json-tree',
  basicChildStyle: 'json-child',
  childFieldsContainer: 'json-children',
  label: 'json-label',
  clickableLabel: 'json-label json-clickable',
  nullValue: 'json-null',
  undefinedValue: 'json-null',
  stringValue: 'json-string',
  booleanValue: 'json-bool',
  numberValue: 'json-number',
  otherValue: 'json-other',
  punctuation: 'json-punct',
  collapseIcon: 'json-icon json-collapse',
  expandIcon: 'json-icon json-expand',
  collapsedContent: 'json-collapsed',
  noQuotesForStringValues: false,
  quotesForFieldNames: true,
  ariaLables: { collapseJson: 'Collapse', expandJson: 'Expand' },
  stringifyStringValues: false,
};

/**
 * JsonPayload shows a payload as a collapsible tree. Keys and values are
 * rendered by React as text: a payload is data, never markup.
 */
export function JsonPayload({ value }: { value: unknown }) {
  if (typeof value !== 'object' || value === null) {
    return <pre className="json-tree json-scalar">{JSON.stringify(value)}</pre>;
  }
  return <JsonView data={value} style={styles} shouldExpandNode={(level) => level < 3} aria-label="Payload" />;
}
