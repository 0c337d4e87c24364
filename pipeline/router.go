package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mhpnet/node/pipeline/rules"
)

// SeriesLister lists the series of a study with the attributes the rules
// look at (QIDO-RS, or a local folder for `node rules check --dir`).
type SeriesLister interface {
	ListSeries(ctx context.Context, source, studyUID string) ([]rules.Series, error)
}

// RouterOptions configures a Router.
type RouterOptions struct {
	// Node names this node in results.
	Node string
	// Source is the default source of events that name none.
	Source string
	// ModelVersion goes into job ids.
	ModelVersion string
	// MaxDeliver is the number of attempts to route one event (listing the
	// series may fail while the PACS is down). Default 10.
	MaxDeliver int
	// Backoff lists delays between attempts; the last repeats. Default
	// [5s, 30s, 2m, 10m].
	Backoff []time.Duration
}

// Router turns study events into jobs by applying the routing rules.
type Router struct {
	q       *Queue
	lister  SeriesLister
	rules   *rules.Set
	opts    RouterOptions
	log     *zap.Logger
	metrics *Metrics
}

// NewRouter returns a router. metrics may be nil.
func NewRouter(q *Queue, lister SeriesLister, set *rules.Set, opts RouterOptions, log *zap.Logger, m *Metrics) (*Router, error) {
	if lister == nil || set == nil {
		return nil, errors.New("router: a series lister and a rule set are required")
	}
	if opts.ModelVersion == "" {
		return nil, errors.New("router: model version required")
	}
	if opts.MaxDeliver <= 0 {
		opts.MaxDeliver = 10
	}
	if len(opts.Backoff) == 0 {
		opts.Backoff = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Router{q: q, lister: lister, rules: set, opts: opts, log: log.With(zap.String("component", "router")), metrics: m}, nil
}

// Routed is the outcome of routing one study.
type Routed struct {
	Decisions []rules.Decision
	// Queued lists the job ids published; Duplicates those the server
	// dropped as already queued or done within the duplicate window.
	Queued, Duplicates []string
}

// Route lists the study's series, decides for each, queues the selected
// ones and publishes a skipped result for every other series.
func (r *Router) Route(ctx context.Context, ev StudyEvent) (Routed, error) {
	var out Routed
	source := ev.Source
	if source == "" {
		source = r.opts.Source
	}
	series, err := r.lister.ListSeries(ctx, source, ev.StudyInstanceUID)
	if err != nil {
		r.metrics.PACSErrors.WithLabelValues("list").Inc()
		return out, fmt.Errorf("listing series of study %s: %w", ev.StudyInstanceUID, err)
	}
	if len(ev.SeriesInstanceUIDs) > 0 {
		series = slices.DeleteFunc(series, func(s rules.Series) bool {
			return !slices.Contains(ev.SeriesInstanceUIDs, s.SeriesInstanceUID)
		})
	}
	for i := range series {
		series[i].Source = source
		series[i].StudyInstanceUID = ev.StudyInstanceUID
	}
	out.Decisions = r.rules.Evaluate(series)
	log := r.log.With(zap.String("study_uid", ev.StudyInstanceUID), zap.String("intake", ev.Intake))
	if len(series) == 0 {
		log.Warn("study has no series (yet?) in the PACS; nothing to route")
	}
	for _, d := range out.Decisions {
		slog := log.With(zap.String("series_uid", d.Series.SeriesInstanceUID), zap.String("rule", d.Rule))
		if d.Action != rules.Process {
			r.metrics.Decisions.WithLabelValues(string(rules.Skip)).Inc()
			slog.Info("series skipped", zap.String("reason", d.Reason), zap.Strings("trace", d.Trace))
			res := Result{Outcome: OutcomeSkipped, Node: r.opts.Node, Source: source, StudyInstanceUID: ev.StudyInstanceUID,
				SeriesInstanceUID: d.Series.SeriesInstanceUID, ModelVersion: r.opts.ModelVersion, Rule: d.Rule,
				Reason: d.Reason, Time: time.Now().UTC()}
			if err := r.q.publishResult(ctx, res); err != nil {
				return out, err
			}
			continue
		}
		job := Job{
			ID:     JobID(d.Series.SeriesInstanceUID, r.opts.ModelVersion),
			Source: source, StudyInstanceUID: ev.StudyInstanceUID, SeriesInstanceUID: d.Series.SeriesInstanceUID,
			ModelVersion: r.opts.ModelVersion, Priority: d.Priority, Rule: d.Rule, Reason: d.Reason, Intake: ev.Intake,
		}
		dup, err := r.q.Enqueue(ctx, job)
		if err != nil {
			return out, err
		}
		if dup {
			r.metrics.Decisions.WithLabelValues("duplicate").Inc()
			out.Duplicates = append(out.Duplicates, job.ID)
			slog.Info("series already queued or done recently; duplicate dropped", zap.String("job_id", job.ID))
			continue
		}
		r.metrics.Decisions.WithLabelValues(string(rules.Process)).Inc()
		out.Queued = append(out.Queued, job.ID)
		slog.Info("job queued", zap.String("job_id", job.ID), zap.String("reason", d.Reason))
	}
	return out, nil
}

// Run consumes study events until ctx is cancelled. A failure to route
// (PACS unreachable) is retried with growing delays; after MaxDeliver the
// event is dropped with a seg.results.failed event naming the study.
func (r *Router) Run(ctx context.Context) error {
	cons, err := r.q.routerConsumer(ctx, 2*time.Minute, r.opts.MaxDeliver)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b, err := cons.Fetch(1, jetstream.FetchContext(waitCtx))
		if err != nil {
			<-waitCtx.Done()
			cancel()
			continue
		}
		for m := range b.Messages() {
			r.handle(ctx, m)
		}
		cancel()
	}
	return nil
}

func (r *Router) handle(ctx context.Context, m jetstream.Msg) {
	intake := IntakeNATS
	if subj := m.Subject(); len(subj) > len(subjectIntakeInternal)+1 && subj[:len(subjectIntakeInternal)] == subjectIntakeInternal {
		intake = subj[len(subjectIntakeInternal)+1:]
	}
	ev, err := ParseStudyEvent(m.Data())
	if err != nil {
		r.metrics.Events.WithLabelValues(intake, "refused").Inc()
		r.log.Warn("study event refused", zap.String("subject", m.Subject()), zap.Error(err))
		_ = m.Term()
		return
	}
	if ev.Intake == "" {
		ev.Intake = intake
	}
	attempt := 1
	if meta, err := m.Metadata(); err == nil {
		attempt = int(meta.NumDelivered)
	}
	routed, err := r.Route(ctx, ev)
	if err == nil {
		_ = m.Ack()
		r.metrics.Events.WithLabelValues(ev.Intake, "routed").Inc()
		r.log.Info("study routed", zap.String("study_uid", ev.StudyInstanceUID), zap.String("intake", ev.Intake),
			zap.Int("series", len(routed.Decisions)), zap.Int("queued", len(routed.Queued)), zap.Int("duplicates", len(routed.Duplicates)))
		return
	}
	if ctx.Err() != nil {
		_ = m.Nak()
		return
	}
	if attempt < r.opts.MaxDeliver {
		delay := r.opts.Backoff[min(attempt-1, len(r.opts.Backoff)-1)]
		r.log.Warn("routing failed; will retry", zap.String("study_uid", ev.StudyInstanceUID), zap.Int("attempt", attempt),
			zap.Duration("retry_in", delay), zap.Error(err))
		_ = m.NakWithDelay(delay)
		return
	}
	r.metrics.Events.WithLabelValues(ev.Intake, "failed").Inc()
	r.log.Error("routing failed for good; study dropped", zap.String("study_uid", ev.StudyInstanceUID), zap.Int("attempt", attempt), zap.Error(err))
	res := Result{Outcome: OutcomeFailed, Node: r.opts.Node, Source: ev.Source, StudyInstanceUID: ev.StudyInstanceUID,
		ModelVersion: r.opts.ModelVersion, Reason: "routing: " + err.Error(), Attempt: attempt, Time: time.Now().UTC()}
	_ = r.q.publishResult(ctx, res)
	_ = m.Term()
}
