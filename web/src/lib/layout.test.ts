import { expect, test } from 'vitest';
import { defaultBox, fitBox, loadBox, loadDockWidth, loadLayout, saveBox, saveDockWidth, saveLayout } from './layout';

function storage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
}

test('layout, box and dock width are remembered', () => {
  const s = storage();
  expect(loadLayout(s)).toBe('window');
  saveLayout(s, 'docked');
  expect(loadLayout(s)).toBe('docked');
  expect(loadBox(s, 1280, 800)).toEqual(defaultBox(1280, 800));
  saveBox(s, { x: 10.4, y: 20, width: 500, height: 400 });
  expect(loadBox(s, 1280, 800)).toEqual({ x: 10, y: 20, width: 500, height: 400 });
  saveDockWidth(s, 600);
  expect(loadDockWidth(s, 1280)).toBe(600);
});

test('what is read back fits the viewport', () => {
  expect(fitBox({ x: 1200, y: -5, width: 500, height: 400 }, 1280, 800)).toEqual({ x: 780, y: 0, width: 500, height: 400 });
  expect(fitBox({ x: 0, y: 0, width: 5000, height: 10 }, 1280, 800)).toEqual({ x: 0, y: 0, width: 1280, height: 220 });
  const s = storage();
  s.setItem('callbackd.detail-box', '{"x":"a"}');
  expect(loadBox(s, 1280, 800)).toEqual(defaultBox(1280, 800));
  s.setItem('callbackd.detail-box', 'not json');
  expect(loadBox(s, 1280, 800)).toEqual(defaultBox(1280, 800));
  saveDockWidth(s, 5000);
  expect(loadDockWidth(s, 1000)).toBe(700);
});
