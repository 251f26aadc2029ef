// The signed-in session: the admin client of the browser's session cookie,
// and logout.

import { createContext, useContext } from 'react';
import type { AdminClient } from './lib/api';

export interface Session {
  client: AdminClient;
  /** credential keys the cross-tab channel and lock of this session: tabs of one session share one stream. */
  credential: string;
  /** admin is the signed-in admin's name. */
  admin: string;
  /** logout ends the session (with a reason: only forgets it, the server already ended it). */
  logout(message?: string): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a session');
  return s;
}
