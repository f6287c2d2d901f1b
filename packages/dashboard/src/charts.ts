import uPlot from 'uplot';

// Time-series charts drawn by uPlot on a canvas. A canvas says nothing to a screen reader, so
// each chart's box is an image whose label sums up what it draws (`summary`); the legend below
// it is a table of the series with their values under the cursor.

export interface Series {
  label: string;
  color: string;
  values: (number | null)[];
  /** Dashed, so a series equal to another still shows where they part. */
  dashed?: boolean;
}

export interface LineChart {
  /** Draws new data; a different set of series builds the chart again. */
  update(minutes: string[], series: Series[], summary: string): void;
}

const HEIGHT = 200;

export const COLORS = {
  accepted: '#0b5cad',
  answered: '#1a7f37',
  tokens: '#6639ba',
  p50: '#0b5cad',
  p95: '#b35900',
  failed: ['#b42318', '#b35900', '#8a2be2', '#bf3989', '#57606a'],
};

/** A line chart in `box` (a `.plot` element), as wide as the box, following its resizes. */
export function lineChart(box: HTMLElement, unit: string): LineChart {
  let chart: uPlot | undefined;
  let labels = '';
  const width = () => Math.max(240, Math.floor(box.clientWidth));
  new ResizeObserver(() => chart?.setSize({ width: width(), height: HEIGHT })).observe(box);

  return {
    update(minutes, series, summary) {
      box.setAttribute('aria-label', summary);
      const x = minutes.map((m) => Date.parse(m) / 1000);
      const data: uPlot.AlignedData = [x, ...series.map((s) => s.values)];
      const key = series.map((s) => s.label).join('|');
      if (chart && key === labels) {
        chart.setData(data);
        return;
      }
      chart?.destroy();
      labels = key;
      chart = new uPlot(
        {
          width: width(),
          height: HEIGHT,
          scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
          axes: [{}, { label: unit, size: 50 }],
          series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, ...(s.dashed ? { dash: [6, 4] } : {}), points: { show: true, size: 5 }, spanGaps: false }))],
          legend: { live: true },
          cursor: { drag: { x: false, y: false } },
        },
        data,
        box,
      );
    },
  };
}
