import { ISampleMessage } from '../protocol';
import { svgElement } from './dom';

const WIDTH = 240;
const HEIGHT = 48;

/**
 * The recent kernel RSS as a line, so a user sees at a glance whether memory is
 * climbing. The full timeline chart (cell spans, VRAM) is a separate view.
 */
export class Sparkline {
  readonly node = svgElement('svg', {
    class: 'jp-oomguard-sparkline',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: 'none',
    role: 'img'
  });

  constructor(private _points = 120) {
    this.node.appendChild(this._line);
  }

  update(samples: readonly ISampleMessage[]): void {
    const recent = samples.slice(-this._points).filter(s => s.rss !== null);
    if (recent.length < 2) {
      this._line.setAttribute('points', '');
      return;
    }
    const max = Math.max(...recent.map(s => s.rss as number)) * 1.1 || 1;
    const step = WIDTH / (this._points - 1);
    const offset = (this._points - recent.length) * step;
    const points = recent.map((s, i) => {
      const x = offset + i * step;
      const y = HEIGHT - ((s.rss as number) / max) * HEIGHT;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    this._line.setAttribute('points', points.join(' '));
  }

  private _line = svgElement('polyline', { class: 'jp-oomguard-sparkline-line' });
}
