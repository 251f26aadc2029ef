import { useEffect, useState } from 'react';

/** phoneQuery matches phone widths, where the UI changes layout (Tailwind's sm breakpoint). */
export const phoneQuery = '(max-width: 639px)';

/** usePhone tells whether the window is phone-wide, following changes. */
export function usePhone(): boolean {
  const [phone, setPhone] = useState(() => window.matchMedia(phoneQuery).matches);
  useEffect(() => {
    const m = window.matchMedia(phoneQuery);
    const on = () => setPhone(m.matches);
    m.addEventListener('change', on);
    return () => m.removeEventListener('change', on);
  }, []);
  return phone;
}
