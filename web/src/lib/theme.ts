// Light and dark themes: follow the system unless the admin chose one.

export type ThemeChoice = 'system' | 'light' | 'dark';

const key = 'callbackd.theme';
const media = () => window.matchMedia('(prefers-color-scheme: dark)');

export function loadTheme(): ThemeChoice {
  const v = window.localStorage.getItem(key);
  return v === 'light' || v === 'dark' ? v : 'system';
}

export function resolvedTheme(choice: ThemeChoice): 'light' | 'dark' {
  if (choice !== 'system') return choice;
  return media().matches ? 'dark' : 'light';
}

/** applyTheme sets the class that Tailwind's dark variant keys on. */
export function applyTheme(choice: ThemeChoice): void {
  const dark = resolvedTheme(choice) === 'dark';
  document.documentElement.classList.toggle('dark', dark);
  document.documentElement.style.colorScheme = dark ? 'dark' : 'light';
}

export function saveTheme(choice: ThemeChoice): void {
  if (choice === 'system') window.localStorage.removeItem(key);
  else window.localStorage.setItem(key, choice);
  applyTheme(choice);
}

/** watchSystemTheme re-applies the theme when the system's changes. */
export function watchSystemTheme(current: () => ThemeChoice): () => void {
  const m = media();
  const on = () => applyTheme(current());
  m.addEventListener('change', on);
  return () => m.removeEventListener('change', on);
}

export const nextTheme: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };
