// A time-series chart of a view's measure, drawn by uPlot, with a marker at the batch cutoff.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const COLORS = ['#2f6fb0', '#e07b39', '#3a9b5c', '#b5446e', '#7a5cc4', '#c9a227', '#3aa5a8', '#8c6d46', '#d45757', '#5c7a8c'];

/** uPlot's hook drawing a dashed vertical line, labelled, at the batch cutoff (x in seconds). */
function cutoffMarker(getCutoff) {
  return {
    hooks: {
      draw: [
        (u) => {
          const cutoff = getCutoff();
          if (cutoff === null || cutoff < u.scales.x.min || cutoff > u.scales.x.max) return;
          const x = Math.round(u.valToPos(cutoff, 'x', true));
          const { ctx } = u;
          ctx.save();
          ctx.strokeStyle = '#555';
          ctx.setLineDash([6, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.setLineDash([]);
          ctx.fillStyle = '#555';
          ctx.font = `${11 * devicePixelRatio}px sans-serif`;
          ctx.textAlign = 'right';
          ctx.fillText('batch ◀', x - 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
          ctx.textAlign = 'left';
          ctx.fillText('▶ speed', x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
          ctx.restore();
        },
      ],
    },
  };
}

/**
 * `xs`: bucket starts in seconds; `series`: [{ label, values }] aligned with xs (null for no value); `cutoff`:
 * the batch cutoff in seconds, or null.
 */
export function TimeChart({ xs, series, cutoff, title }) {
  const box = useRef(null);
  const plot = useRef(null);
  const cutoffRef = useRef(cutoff);
  cutoffRef.current = cutoff;
  const shape = series.map((s) => s.label).join('\u0000');

  useEffect(() => {
    const width = Math.max(320, box.current.clientWidth || 800);
    const options = {
      title,
      width,
      height: 320,
      scales: { x: { time: true } },
      series: [{}, ...series.map((s, index) => ({ label: s.label, stroke: COLORS[index % COLORS.length], width: 2, spanGaps: false, points: { show: xs.length < 80 } }))],
      axes: [{}, { size: 70 }],
      plugins: [cutoffMarker(() => cutoffRef.current)],
    };
    plot.current = new uPlot(options, [xs, ...series.map((s) => s.values)], box.current);
    const resize = () => plot.current?.setSize({ width: Math.max(320, box.current.clientWidth), height: 320 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.current.destroy();
      plot.current = null;
    };
  }, [shape, title]);

  useEffect(() => {
    plot.current?.setData([xs, ...series.map((s) => s.values)]);
  }, [xs, series, cutoff]);

  // What the chart holds, for a glance from outside (and for the browser tests): points and their sum.
  const total = series.reduce((sum, s) => sum + s.values.reduce((part, value) => part + (value ?? 0), 0), 0);
  return html`<div class="chart" ref=${box} data-points=${xs.length} data-total=${total}></div>`;
}
