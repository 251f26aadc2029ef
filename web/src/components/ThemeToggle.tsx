import { useEffect, useState } from 'react';
import { loadTheme, nextTheme, resolvedTheme, saveTheme, watchSystemTheme, type ThemeChoice } from '../lib/theme';

export interface ThemeState {
  choice: ThemeChoice;
  resolved: 'light' | 'dark';
  set(choice: ThemeChoice): void;
}

/** useTheme follows the system theme unless the admin picked one. */
export function useTheme(): ThemeState {
  const [choice, setChoice] = useState<ThemeChoice>(loadTheme);
  const [resolved, setResolved] = useState(() => resolvedTheme(choice));
  useEffect(() => {
    saveTheme(choice);
    setResolved(resolvedTheme(choice));
    return watchSystemTheme(() => {
      setResolved(resolvedTheme(choice));
      return choice;
    });
  }, [choice]);
  return { choice, resolved, set: setChoice };
}

const labels: Record<ThemeChoice, string> = { system: 'System theme', light: 'Light theme', dark: 'Dark theme' };
const icons: Record<ThemeChoice, string> = { system: '◐', light: '☀', dark: '☾' };

export function ThemeToggle({ theme }: { theme: ThemeState }) {
  return (
    <button
      type="button"
      className="btn-ghost"
      onClick={() => theme.set(nextTheme[theme.choice])}
      aria-label={`${labels[theme.choice]} (change)`}
      title={`${labels[theme.choice]}: click for ${labels[nextTheme[theme.choice]].toLowerCase()}`}
      data-testid="theme-toggle"
    >
      <span aria-hidden="true">{icons[theme.choice]}</span>
      <span className="hidden sm:inline">{theme.choice}</span>
    </button>
  );
}
