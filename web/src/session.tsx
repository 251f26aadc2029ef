// The logged-in session: the admin client for the token, and logout.

import { createContext, useContext } from 'react';
import type { AdminClient } from './lib/api';

export interface Session {
  client: AdminClient;
  /** credential keys the cross-tab channel and lock of this token. */
  credential: string;
  logout(message?: string): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a session');
  return s;
}
