import { useEffect, useRef } from 'react';
import uPlot, { type AlignedData, type Options } from 'uplot';

/** ChartSeries is one drawn series. */
export interface ChartSeries {
  label: string;
  /** colour is a CSS colour. */
  colour: string;
  values: Array<number | null>;
  /** shown is what the legend and tooltip say for a point (the raw value of a stacked series). */
  shown?: (i: number) => string;
  kind: 'bars' | 'line';
}

/**
 * Chart draws time series with uPlot on a canvas (no injected styles: its
 * CSS is in the stylesheet, its layout set through the CSSOM). Bars are
 * centred on their bucket: the x range is padded by half a bucket, so bar i
 * of n sits at (i + ½)/n of the plot's width. onPick gets the bucket clicked and the height
 * clicked, on the y scale (which band of a stacked bar).
 * The canvas is an image to assistive technology, labelled with a summary;
 * every chart has a table of the same numbers beside it.
 */
export function Chart({ x, bucketMs, series, height = 200, label, onPick, yFormat, testId }: { x: number[]; bucketMs: number; series: ChartSeries[]; height?: number; label: string; onPick?(i: number, y: number): void; yFormat?(v: number): string; testId: string }) {
  const box = useRef<HTMLDivElement>(null);
  const pick = useRef(onPick);
  pick.current = onPick;
  const dark = document.documentElement.classList.contains('dark');
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = dark ? '#cbd5e1' : '#334155';
    const grid = dark ? '#334155' : '#e2e8f0';
    const half = bucketMs / 2000;
    const xs = x.map((t) => t / 1000);
    const opts: Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: { x: { time: true, range: () => [(xs[0] ?? 0) - half, (xs[xs.length - 1] ?? 0) + half] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 56, values: (_u, vals) => vals.map((v) => (yFormat ? yFormat(v) : String(v))) },
      ],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: 'Time', value: (_u, v) => (v == null ? '—' : new Date(v * 1000).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.colour,
          fill: s.kind === 'bars' ? s.colour : undefined,
          width: s.kind === 'bars' ? 0 : 2,
          points: { show: s.kind === 'line' },
          spanGaps: false,
          paths: s.kind === 'bars' ? uPlot.paths.bars!({ size: [0.8, 64], align: 0 }) : undefined,
          value: (_u: uPlot, v: number | null, _si: number, i: number | null) => (i !== null && s.shown ? s.shown(i) : v == null ? '—' : yFormat ? yFormat(v) : String(v)),
        })),
      ],
    };
    const data = [xs, ...series.map((s) => s.values)] as AlignedData;
    const u = new uPlot(opts, data, el);
    const click = () => {
      const i = u.cursor.idx;
      const top = u.cursor.top;
      if (i !== null && i !== undefined) pick.current?.(i, top !== undefined && top >= 0 ? u.posToVal(top, 'y') : 0);
    };
    u.over.addEventListener('click', click);
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.over.removeEventListener('click', click);
      u.destroy();
    };
    // The chart is rebuilt when what it draws changes.
  }, [x, bucketMs, series, height, dark, yFormat]);
  return <div ref={box} className={onPick ? 'chart chart-clickable' : 'chart'} role="img" aria-label={label} data-testid={testId} />;
}
