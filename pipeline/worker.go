package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mhpnet/node/volume"
)

// SeriesRef names one series in one PACS.
type SeriesRef struct {
	Source            string
	StudyInstanceUID  string
	SeriesInstanceUID string
}

// SEGFinder answers the idempotency question before any pixel is fetched.
type SEGFinder interface {
	// FindSEG returns the SeriesInstanceUID of a SEG made by modelVersion
	// that references ref, or "" when there is none.
	FindSEG(ctx context.Context, ref SeriesRef, modelVersion string) (string, error)
}

// Fetched is a retrieved series: the source object the encoder needs (S,
// e.g. *dicom.Series) and its volume in Hounsfield units.
type Fetched[S any] struct {
	Series    S
	Volume    *volume.Volume
	Instances int
	// Release frees what the fetch held (a temporary folder); may be nil.
	Release func()
}

// Fetcher retrieves a series (WADO-RS) and builds its volume.
type Fetcher[S any] interface {
	Fetch(ctx context.Context, ref SeriesRef) (Fetched[S], error)
}

// Segmenter runs the model on a volume: labels 1 = liver, 2 = tumor.
type Segmenter interface {
	Segment(ctx context.Context, v *volume.Volume) (*volume.LabelVolume, Measurements, error)
}

// EncodedSEG is a Part 10 DICOM Segmentation ready to store.
type EncodedSEG struct {
	Data              []byte
	SeriesInstanceUID string
	SOPInstanceUID    string
}

// Encoder makes the DICOM SEG of a labelled series.
type Encoder[S any] interface {
	Encode(ctx context.Context, src S, labels *volume.LabelVolume, m Measurements) (EncodedSEG, error)
}

// Storer stores a SEG in the PACS (STOW-RS).
type Storer interface {
	Store(ctx context.Context, studyUID string, seg EncodedSEG) error
}

// Stages bundles the worker's steps. S is the type the fetcher hands to the
// encoder (the source series with its instances' UIDs).
type Stages[S any] struct {
	Finder    SEGFinder
	Fetcher   Fetcher[S]
	Segmenter Segmenter
	Encoder   Encoder[S]
	Storer    Storer
}

// WorkerOptions configures a Worker.
type WorkerOptions struct {
	// Node names this node in results.
	Node string
	// ModelVersion is the version of the model the Segmenter runs.
	ModelVersion string
	// Concurrency is the number of jobs run at once. Default 1.
	Concurrency int
	// JobTimeout bounds one attempt. Default 30m.
	JobTimeout time.Duration
	// DrainTimeout is how long running jobs may go on after Run's context
	// is cancelled; then they are cancelled and handed back. Default 2m.
	DrainTimeout time.Duration
	// IdleWait is how long an idle worker waits on the highest priority
	// before looking at all priorities again. Default 1s.
	IdleWait time.Duration
	// IsPermanent classifies errors that retrying cannot fix, in addition
	// to ErrPermanent (cmd/node adds dicom.ErrRefused).
	IsPermanent func(error) bool
}

func (o WorkerOptions) withDefaults() WorkerOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 30 * time.Minute
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 2 * time.Minute
	}
	if o.IdleWait <= 0 {
		o.IdleWait = time.Second
	}
	return o
}

// Worker takes jobs from the queue and runs them.
type Worker[S any] struct {
	q       *Queue
	stages  Stages[S]
	opts    WorkerOptions
	log     *zap.Logger
	metrics *Metrics
}

// NewWorker returns a worker on q. metrics may be nil.
func NewWorker[S any](q *Queue, stages Stages[S], opts WorkerOptions, log *zap.Logger, m *Metrics) (*Worker[S], error) {
	if stages.Finder == nil || stages.Fetcher == nil || stages.Segmenter == nil || stages.Encoder == nil || stages.Storer == nil {
		return nil, errors.New("worker: every stage (Finder, Fetcher, Segmenter, Encoder, Storer) is required")
	}
	if opts.ModelVersion == "" {
		return nil, errors.New("worker: model version required")
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Worker[S]{q: q, stages: stages, opts: opts.withDefaults(), log: log.With(zap.String("component", "worker")), metrics: m}, nil
}

// Run takes and runs jobs until ctx is cancelled. Then it takes no more
// jobs; running ones get DrainTimeout to finish, after which they are
// cancelled and handed back to the queue (Nak) for this or another node.
// Run returns when every running job has been acked or handed back.
func (w *Worker[S]) Run(ctx context.Context) error {
	cons := make([]jetstream.Consumer, 0, len(w.q.opts.Priorities))
	for _, p := range w.q.opts.Priorities {
		c, err := w.q.bus.JS.Consumer(ctx, StreamJobs, consumerPrefix+p)
		if err != nil {
			return fmt.Errorf("worker: consumer %s%s: %w", consumerPrefix, p, err)
		}
		cons = append(cons, c)
	}
	// jobCtx outlives ctx by DrainTimeout: a job is not abandoned the moment
	// SIGTERM arrives.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.NewTimer(w.opts.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelJobs()
		case <-jobCtx.Done():
		}
	})
	defer stopDrain()

	var wg sync.WaitGroup
	for i := 0; i < w.opts.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				msg := w.next(ctx, cons)
				if msg == nil {
					continue
				}
				w.handle(jobCtx, msg)
			}
		}()
	}
	wg.Wait()
	return nil
}

// next returns the oldest job of the highest priority that has one, or nil.
func (w *Worker[S]) next(ctx context.Context, cons []jetstream.Consumer) jetstream.Msg {
	for _, c := range cons {
		b, err := c.FetchNoWait(1)
		if err != nil {
			continue
		}
		for m := range b.Messages() {
			return m
		}
	}
	// Nothing anywhere: wait on the highest priority for a while. A lower
	// priority job that arrives meanwhile waits at most IdleWait.
	waitCtx, cancel := context.WithTimeout(ctx, w.opts.IdleWait)
	defer cancel()
	b, err := cons[0].Fetch(1, jetstream.FetchContext(waitCtx))
	if err != nil {
		<-waitCtx.Done() // NATS unreachable: do not spin
		return nil
	}
	for m := range b.Messages() {
		return m
	}
	return nil
}

// handle runs one delivery of one job and settles the message: ack on
// success, hand back on shutdown, NakWithDelay on a failure worth retrying,
// dead letter on the last attempt or a permanent failure.
func (w *Worker[S]) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error("job message without metadata; terminating it", zap.Error(err))
		_ = msg.Term()
		return
	}
	attempt := int(meta.NumDelivered)
	var job Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil || !ValidUID(job.SeriesInstanceUID) || !ValidUID(job.StudyInstanceUID) {
		w.log.Error("undecodable job: dead-lettering it", zap.Uint64("stream_seq", meta.Sequence.Stream), zap.Error(err))
		w.fail(ctx, msg, job, meta, attempt, Permanent(fmt.Errorf("job message is not a valid job: %v", err)))
		return
	}
	log := w.log.With(zap.String("job_id", job.ID), zap.String("study_uid", job.StudyInstanceUID),
		zap.String("series_uid", job.SeriesInstanceUID), zap.Int("attempt", attempt))
	log.Info("job started", zap.String("priority", job.Priority), zap.String("rule", job.Rule))

	// Heartbeat: InProgress resets the server's AckWait timer, so a job
	// longer than AckWait is not given to a second worker; a node that dies
	// stops the heartbeat and the job is redelivered after AckWait.
	hbCtx, stopHB := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(max(w.q.opts.AckWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					log.Warn("heartbeat failed", zap.Error(err))
				}
			}
		}
	}()
	runCtx, cancel := context.WithTimeout(ctx, w.opts.JobTimeout)
	res, err := w.run(runCtx, job, log)
	cancel()
	stopHB()
	<-hbDone
	res.Attempt = attempt

	if err == nil {
		start := time.Now()
		if perr := w.q.publishResult(ctx, res); perr != nil {
			// The SEG is stored; the next attempt finds it and reports skip.
			log.Warn("result not published; job will run again", zap.Error(perr))
			_ = msg.NakWithDelay(w.q.opts.Delay(attempt))
			w.metrics.Jobs.WithLabelValues("retried").Inc()
			return
		}
		w.metrics.observe(StagePublish, time.Since(start))
		// DoubleAck waits for the server's confirmation: once it returns,
		// the job is gone from the queue and will not run again.
		if aerr := msg.DoubleAck(ctx); aerr != nil {
			log.Warn("ack not confirmed; the job may run again and will then be skipped as done", zap.Error(aerr))
		}
		w.metrics.Jobs.WithLabelValues(res.Outcome).Inc()
		fields := []zap.Field{zap.Duration("duration", time.Duration(res.Timings["total"]*float64(time.Second)))}
		if res.Outcome == OutcomeSkipped {
			log.Info("job skipped", append(fields, zap.String("reason", res.Reason))...)
		} else {
			log.Info("job done", append(fields, zap.String("seg_series_uid", res.SEG.SeriesInstanceUID))...)
		}
		return
	}
	if ctx.Err() != nil {
		// Shutdown: hand the job back now rather than after AckWait.
		log.Info("job interrupted by shutdown; handed back to the queue", zap.Error(err))
		_ = msg.Nak()
		w.metrics.Jobs.WithLabelValues("handed_back").Inc()
		return
	}
	w.fail(ctx, msg, job, meta, attempt, err)
}

// fail retries the job later, or dead-letters it on the last attempt or a
// permanent error.
func (w *Worker[S]) fail(ctx context.Context, msg jetstream.Msg, job Job, meta *jetstream.MsgMetadata, attempt int, err error) {
	log := w.log.With(zap.String("job_id", job.ID), zap.String("study_uid", job.StudyInstanceUID),
		zap.String("series_uid", job.SeriesInstanceUID), zap.Int("attempt", attempt))
	permanent := errors.Is(err, ErrPermanent) || (w.opts.IsPermanent != nil && w.opts.IsPermanent(err))
	if !permanent && attempt < w.q.opts.MaxDeliver {
		delay := w.q.opts.Delay(attempt)
		log.Warn("job failed; will retry", zap.Error(err), zap.Duration("retry_in", delay),
			zap.Int("max_deliver", w.q.opts.MaxDeliver))
		_ = msg.NakWithDelay(delay)
		w.metrics.Jobs.WithLabelValues("retried").Inc()
		return
	}
	var se *StageError
	var stage Stage
	if errors.As(err, &se) {
		stage = se.Stage
	}
	d := DeadJob{Job: job, LastError: err.Error(), Stage: stage, Attempts: attempt, Permanent: permanent,
		FailedAt: time.Now().UTC(), Node: w.opts.Node}
	if derr := w.q.deadLetter(ctx, d, meta.Sequence.Stream); derr != nil {
		// Leave the message to the server; the max-deliveries advisory
		// watcher dead-letters it if this was the last attempt.
		log.Error("dead-lettering failed", zap.Error(derr), zap.NamedError("job_error", err))
		_ = msg.NakWithDelay(w.q.opts.Delay(attempt))
		return
	}
	res := Result{Outcome: OutcomeFailed, JobID: job.ID, Node: w.opts.Node, Source: job.Source,
		StudyInstanceUID: job.StudyInstanceUID, SeriesInstanceUID: job.SeriesInstanceUID,
		ModelVersion: job.ModelVersion, Rule: job.Rule, Reason: err.Error(), Stage: stage, Attempt: attempt, Time: time.Now().UTC()}
	if perr := w.q.publishResult(ctx, res); perr != nil {
		log.Warn("failure result not published", zap.Error(perr))
	}
	// The dead letter holds the job now: remove it from the work queue.
	if aerr := msg.DoubleAck(ctx); aerr != nil {
		log.Warn("ack of dead-lettered job not confirmed", zap.Error(aerr))
	}
	w.metrics.Jobs.WithLabelValues(OutcomeFailed).Inc()
	log.Error("job dead-lettered", zap.Error(err), zap.Bool("permanent", permanent), zap.String("stage", string(stage)),
		zap.String("hint", "node jobs show "+job.ID+"; node jobs retry "+job.ID))
}

// run executes the stages of one job.
func (w *Worker[S]) run(ctx context.Context, job Job, log *zap.Logger) (Result, error) {
	total := time.Now()
	res := Result{Outcome: OutcomeOK, JobID: job.ID, Node: w.opts.Node, Source: job.Source,
		StudyInstanceUID: job.StudyInstanceUID, SeriesInstanceUID: job.SeriesInstanceUID,
		ModelVersion: w.opts.ModelVersion, Rule: job.Rule, Timings: map[string]float64{}}
	ref := SeriesRef{Source: job.Source, StudyInstanceUID: job.StudyInstanceUID, SeriesInstanceUID: job.SeriesInstanceUID}
	timed := func(s Stage, f func() error) error {
		start := time.Now()
		err := f()
		d := time.Since(start)
		res.Timings[string(s)] = d.Seconds()
		w.metrics.observe(s, d)
		if err != nil {
			if s == StageCheck || s == StageFetch || s == StageStore {
				w.metrics.PACSErrors.WithLabelValues(string(s)).Inc()
			}
			return &StageError{Stage: s, Err: err}
		}
		log.Debug("stage done", zap.String("stage", string(s)), zap.Duration("duration", d))
		return nil
	}
	finish := func() (Result, error) {
		res.Timings["total"] = time.Since(total).Seconds()
		res.Time = time.Now().UTC()
		return res, nil
	}

	var existing string
	if err := timed(StageCheck, func() (err error) {
		existing, err = w.stages.Finder.FindSEG(ctx, ref, w.opts.ModelVersion)
		return err
	}); err != nil {
		return res, err
	}
	if existing != "" {
		res.Outcome = OutcomeSkipped
		res.Reason = fmt.Sprintf("a SEG of model version %s (series %s) already references this series", w.opts.ModelVersion, existing)
		res.SEG = &SEGRef{SeriesInstanceUID: existing}
		return finish()
	}
	var f Fetched[S]
	if err := timed(StageFetch, func() (err error) {
		f, err = w.stages.Fetcher.Fetch(ctx, ref)
		if err == nil && f.Volume == nil {
			err = errors.New("fetcher returned no volume")
		}
		return err
	}); err != nil {
		return res, err
	}
	if f.Release != nil {
		defer f.Release()
	}
	res.Instances = f.Instances
	var labels *volume.LabelVolume
	var m Measurements
	if err := timed(StageSegment, func() (err error) {
		labels, m, err = w.stages.Segmenter.Segment(ctx, f.Volume)
		return err
	}); err != nil {
		return res, err
	}
	var seg EncodedSEG
	if err := timed(StageEncode, func() (err error) {
		seg, err = w.stages.Encoder.Encode(ctx, f.Series, labels, m)
		return err
	}); err != nil {
		return res, err
	}
	if err := timed(StageStore, func() error {
		return w.stages.Storer.Store(ctx, job.StudyInstanceUID, seg)
	}); err != nil {
		return res, err
	}
	res.SEG = &SEGRef{SeriesInstanceUID: seg.SeriesInstanceUID, SOPInstanceUID: seg.SOPInstanceUID}
	res.Measurements = &m
	return finish()
}
