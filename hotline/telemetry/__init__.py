"""The node's business and state metrics (docs/metrics.md): counters from the event log classified by
hotline.kpi, gauges of the current state read from PostgreSQL. Run by the supervisor."""
