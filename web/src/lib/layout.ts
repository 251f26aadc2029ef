// How the detail view is laid out, remembered per browser (localStorage):
// a window over the page (modal) or docked beside the list, the window's
// position and size, and the dock's width. Whatever is read back is checked
// and fitted to the current viewport.

import type { StorageLike } from './notify';

export type DetailLayout = 'window' | 'docked';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

const layoutKey = 'callbackd.detail-layout';
const boxKey = 'callbackd.detail-box';
const dockKey = 'callbackd.dock-width';

export function loadLayout(s: StorageLike): DetailLayout {
  return s.getItem(layoutKey) === 'docked' ? 'docked' : 'window';
}

export function saveLayout(s: StorageLike, l: DetailLayout): void {
  s.setItem(layoutKey, l);
}

/** defaultBox centres a window of at most 920×720 in the viewport. */
export function defaultBox(vw: number, vh: number): Box {
  const width = Math.min(920, vw - 48);
  const height = Math.min(720, vh - 48);
  return { x: Math.max(0, (vw - width) / 2), y: Math.max(0, (vh - height) / 2), width, height };
}

/** fitBox keeps a box inside the viewport, at least minimum-sized. */
export function fitBox(b: Box, vw: number, vh: number, min = { width: 320, height: 220 }): Box {
  const width = Math.max(Math.min(min.width, vw), Math.min(b.width, vw));
  const height = Math.max(Math.min(min.height, vh), Math.min(b.height, vh));
  return { x: Math.min(Math.max(0, b.x), vw - width), y: Math.min(Math.max(0, b.y), vh - height), width, height };
}

export function loadBox(s: StorageLike, vw: number, vh: number): Box {
  try {
    const b = JSON.parse(s.getItem(boxKey) ?? 'null') as Partial<Box> | null;
    if (b && [b.x, b.y, b.width, b.height].every((v) => typeof v === 'number' && Number.isFinite(v))) return fitBox(b as Box, vw, vh);
  } catch {
    // A broken entry is as good as none.
  }
  return defaultBox(vw, vh);
}

export function saveBox(s: StorageLike, b: Box): void {
  s.setItem(boxKey, JSON.stringify({ x: Math.round(b.x), y: Math.round(b.y), width: Math.round(b.width), height: Math.round(b.height) }));
}

/** loadDockWidth is the dock's width in px, within [320, 70 % of the viewport]. */
export function loadDockWidth(s: StorageLike, vw: number): number {
  const w = Number(s.getItem(dockKey));
  const max = Math.max(320, Math.round(vw * 0.7));
  return Number.isFinite(w) && w > 0 ? Math.min(max, Math.max(320, w)) : Math.min(max, Math.max(320, Math.round(vw * 0.42)));
}

export function saveDockWidth(s: StorageLike, w: number): void {
  s.setItem(dockKey, String(Math.round(w)));
}
