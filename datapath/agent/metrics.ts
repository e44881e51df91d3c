// A tiny Prometheus text-format registry: counters and gauges with optional labels, plus gauges
// computed at scrape time. No dependency needed for what the agent exposes.
type Labels = Record<string, string>;

interface Series {
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, number>;
  read?: () => number;
}

function key(labels: Labels | undefined): string {
  if (!labels) return '';
  const parts = Object.keys(labels)
    .sort()
    .map(
      (k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
    );
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Metrics {
  private readonly series = new Map<string, Series>();

  counter(name: string, help: string): (by?: number, labels?: Labels) => void {
    const s: Series = { help, type: 'counter', values: new Map() };
    this.series.set(name, s);
    return (by = 1, labels) => {
      const k = key(labels);
      s.values.set(k, (s.values.get(k) ?? 0) + by);
    };
  }

  gauge(name: string, help: string, read: () => number): void {
    this.series.set(name, { help, type: 'gauge', values: new Map(), read });
  }

  /** A counter whose value is read from elsewhere at scrape time. */
  counterFn(name: string, help: string, read: () => number): void {
    this.series.set(name, { help, type: 'counter', values: new Map(), read });
  }

  render(): string {
    const out: string[] = [];
    for (const [name, s] of this.series) {
      out.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`);
      if (s.read) out.push(`${name} ${s.read()}`);
      else if (s.values.size === 0) out.push(`${name} 0`);
      else for (const [k, v] of s.values) out.push(`${name}${k} ${v}`);
    }
    return `${out.join('\n')}\n`;
  }
}
