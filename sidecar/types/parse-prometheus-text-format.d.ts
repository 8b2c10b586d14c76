/**
 * Types for parse-prometheus-text-format (a devDependency the tests parse metrics with; it ships
 * none): the prom2json shape it returns. Here, not in test/: unit tests live next to the code, and
 * the sidecar image compiles sidecar/ without test/.
 */
declare module 'parse-prometheus-text-format' {
  interface Sample {
    labels?: Record<string, string>;
    value: string;
  }
  interface MetricFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: Sample[];
  }
  /** Throws on a line that is not Prometheus text format. */
  function parsePrometheusTextFormat(text: string): MetricFamily[];
  export = parsePrometheusTextFormat;
}
