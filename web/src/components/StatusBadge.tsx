import { CallbackStatus } from '@callbackd/client';
import { statusLabel } from '../lib/events';

const tone: Record<CallbackStatus, string> = {
  [CallbackStatus.UNSPECIFIED]: 'badge-gray',
  [CallbackStatus.RECEIVED]: 'badge-blue',
  [CallbackStatus.PROCESSED]: 'badge-green',
  [CallbackStatus.ERROR]: 'badge-red',
};

/** StatusBadge: received blue, processed green, error red. */
export function StatusBadge({ status }: { status: CallbackStatus }) {
  return (
    <span className={`badge ${tone[status]}`} data-status={statusLabel[status]}>
      {statusLabel[status]}
    </span>
  );
}
