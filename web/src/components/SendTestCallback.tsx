import { useId, useState } from 'react';
import { useSession } from '../session';
import { errorMessage } from '../lib/api';

const events = ['workflow.completed', 'workflow.failed', 'llm.step.completed'] as const;

/**
 * SendTestCallback asks the server to sign a sample callback with its own
 * webhook secret and deliver it through its webhook route: the whole
 * pipeline, and so a toast, without the LLM service.
 */
export function SendTestCallback() {
  const { client } = useSession();
  const [event, setEvent] = useState<(typeof events)[number]>('workflow.completed');
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const id = useId();
  const send = async () => {
    setBusy(true);
    setStatus('');
    try {
      const res = await client.sendTestCallback({ eventType: event });
      setStatus(`Sent: job ${res.externalJobId}, signed with key ${res.keyName}.`);
    } catch (e) {
      setStatus(`Could not send: ${errorMessage(e)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="flex flex-wrap items-center gap-2 text-sm">
      <label htmlFor={id} className="sr-only">
        Test event type
      </label>
      <select id={id} className="input" value={event} onChange={(e) => setEvent(e.target.value as (typeof events)[number])}>
        {events.map((e) => (
          <option key={e} value={e}>
            {e}
          </option>
        ))}
      </select>
      <button type="button" className="btn" onClick={() => void send()} disabled={busy}>
        Send test callback
      </button>
      <span role="status" className="muted" data-testid="test-callback-status">
        {status}
      </span>
    </div>
  );
}
