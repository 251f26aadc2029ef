// Session: the admin token lives in sessionStorage, so it is kept for the
// browser session only and never written to disk by us.

const tokenKey = 'callbackd.token';

/** StorageLike is the part of Web Storage the session needs. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * tokenFromFragment reads a login URL's fragment ("#token=..."), which the
 * server prints when it generated a token. Fragments are never sent to the
 * server, so the token does not reach access logs.
 */
export function tokenFromFragment(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('token')?.trim();
  return token ? token : null;
}

/**
 * tokenFromInput accepts what an admin pastes: a bare token, or a whole
 * login URL with the token in its fragment.
 */
export function tokenFromInput(input: string): string | null {
  const text = input.trim();
  if (text === '') return null;
  const hashAt = text.indexOf('#');
  if (/^https?:\/\//i.test(text) || hashAt >= 0) {
    return hashAt >= 0 ? tokenFromFragment(text.slice(hashAt)) : null;
  }
  return text;
}

export function loadToken(storage: StorageLike): string | null {
  return storage.getItem(tokenKey);
}

export function saveToken(storage: StorageLike, token: string): void {
  storage.setItem(tokenKey, token);
}

export function clearToken(storage: StorageLike): void {
  storage.removeItem(tokenKey);
}

/**
 * credentialKey names the cross-tab channel and lock of one credential: tabs
 * logged in with the same token share one stream; different admins in one
 * browser do not. It is a hash (FNV-1a, 64 bits) so the token itself never
 * appears in a channel name; it needs no secrecy, channels are same-origin.
 */
export function credentialKey(token: string): string {
  let h = 0xcbf29ce484222325n;
  const bytes = new TextEncoder().encode(token);
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}
