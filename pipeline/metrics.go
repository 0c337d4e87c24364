package pipeline

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the node's Prometheus metrics (mhpnet_*).
type Metrics struct {
	// Jobs counts job deliveries by outcome: ok, skipped, failed (dead
	// letter), retried, handed_back.
	Jobs *prometheus.CounterVec
	// StageSeconds observes the duration of each stage.
	StageSeconds *prometheus.HistogramVec
	// PACSErrors counts failed PACS operations by stage (check, fetch,
	// store, list).
	PACSErrors *prometheus.CounterVec
	// Events counts study events by intake and outcome (accepted,
	// refused, routed, failed).
	Events *prometheus.CounterVec
	// Decisions counts routing decisions by action (process, skip,
	// duplicate).
	Decisions *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered, for tests and commands).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mhpnet_jobs_total",
			Help: "Job deliveries by outcome (ok, skipped, failed, retried, handed_back)."}, []string{"outcome"}),
		StageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mhpnet_stage_duration_seconds",
			Help:    "Duration of each job stage.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300}}, []string{"stage"}),
		PACSErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mhpnet_pacs_errors_total",
			Help: "Failed PACS operations by stage."}, []string{"stage"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mhpnet_events_total",
			Help: "Study events by intake and outcome."}, []string{"intake", "outcome"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mhpnet_routing_decisions_total",
			Help: "Routing decisions per series by action (process, skip, duplicate)."}, []string{"action"}),
	}
	if reg != nil {
		reg.MustRegister(m.Jobs, m.StageSeconds, m.PACSErrors, m.Events, m.Decisions)
	}
	return m
}

func (m *Metrics) observe(s Stage, d time.Duration) {
	m.StageSeconds.WithLabelValues(string(s)).Observe(d.Seconds())
}

// depthCollector reads the queue depth from the server at scrape time.
type depthCollector struct {
	q     *Queue
	depth *prometheus.Desc
	dead  *prometheus.Desc
}

// Collector returns a collector of mhpnet_queue_depth{priority} and
// mhpnet_dead_letters, read from the streams at scrape time.
func (q *Queue) Collector() prometheus.Collector {
	return &depthCollector{q: q,
		depth: prometheus.NewDesc("mhpnet_queue_depth", "Jobs in the work queue (waiting or running) by priority.", []string{"priority"}, nil),
		dead:  prometheus.NewDesc("mhpnet_dead_letters", "Jobs in the dead-letter stream.", nil, nil)}
}

// Describe implements prometheus.Collector.
func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.dead }

// Collect implements prometheus.Collector.
func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	per, dead, err := c.q.Depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	for p, n := range per {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n), p)
	}
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(dead))
}
