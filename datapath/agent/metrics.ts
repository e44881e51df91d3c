// The agent's Prometheus metrics on prom-client: counters the agent increments, and counters and
// gauges read from its managers at scrape time. One registry per agent (tests run several in one
// process), rendered by GET /metrics in Prometheus' text format.
import { Counter, Gauge, Registry } from 'prom-client';

type Labels = Record<string, string>;

export class Metrics {
  readonly registry = new Registry();

  /** A counter to increment, with the label names it may carry. */
  counter(name: string, help: string, labelNames: string[] = []): (by?: number, labels?: Labels) => void {
    const c = new Counter({ name, help, labelNames, registers: [this.registry] });
    return (by = 1, labels) => (labels ? c.inc(labels, by) : c.inc(by));
  }

  /** A gauge whose value is read at scrape time. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A counter whose value is read from elsewhere at scrape time. */
  counterFn(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /**
   * A gauge or a counter with one series per label set, all read at scrape time (series gone
   * since are dropped).
   */
  series(
    kind: 'gauge' | 'counter',
    name: string,
    help: string,
    labelNames: string[],
    read: () => { labels: Labels; value: number }[],
  ): void {
    const config = {
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect(this: Gauge | Counter) {
        this.reset();
        for (const s of read()) this.inc(s.labels, s.value); // from zero: sets the series
      },
    };
    if (kind === 'gauge') new Gauge(config);
    else new Counter(config);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
