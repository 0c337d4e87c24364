package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream, subject and consumer names. They are part of the node's interface:
// bridges publish on SubjectStudyArrived, consumers read seg.results.*.
const (
	// StreamEvents holds announced studies until the router has queued them.
	StreamEvents = "MHPNET_EVENTS"
	// StreamJobs is the work queue: one message per series to segment.
	StreamJobs = "MHPNET_JOBS"
	// StreamDead holds dead-lettered jobs with their last error.
	StreamDead = "MHPNET_DEAD"
	// StreamResults keeps result events for consumers that were offline.
	StreamResults = "MHPNET_RESULTS"

	// SubjectStudyArrived is the default intake subject for PACS-side bridges.
	SubjectStudyArrived = "dicom.study.arrived"
	// subjectIntakeInternal prefixes events published by the webhook and the
	// poller: mhpnet.intake.webhook, mhpnet.intake.poller.
	subjectIntakeInternal = "mhpnet.intake"
	// SubjectJobs prefixes job subjects: seg.jobs.<priority>.
	SubjectJobs = "seg.jobs"
	// SubjectDead prefixes dead-letter subjects: seg.dead.<priority>.
	SubjectDead = "seg.dead"
	// SubjectResultOK carries a Result for every stored SEG.
	SubjectResultOK = "seg.results.ok"
	// SubjectResultFailed carries a Result for every dead-lettered job and
	// every study that could not be routed.
	SubjectResultFailed = "seg.results.failed"
	// SubjectResultSkipped carries a Result for every series not processed
	// (routing rule, or a SEG of this model version already in the PACS).
	SubjectResultSkipped = "seg.results.skipped"

	// consumerRouter is the durable consumer of StreamEvents.
	consumerRouter = "router"
	// consumerPrefix + priority names the durable consumer of each priority.
	consumerPrefix = "seg-"
)

// Header names set on job messages.
const (
	headerMsgID = "Nats-Msg-Id"
)

// Job is one series to segment; the message body on seg.jobs.<priority>.
type Job struct {
	// ID is SeriesInstanceUID@ModelVersion.
	ID                string    `json:"id"`
	Source            string    `json:"source"`
	StudyInstanceUID  string    `json:"StudyInstanceUID"`
	SeriesInstanceUID string    `json:"SeriesInstanceUID"`
	ModelVersion      string    `json:"model_version"`
	Priority          string    `json:"priority"`
	Rule              string    `json:"rule,omitempty"`
	Reason            string    `json:"reason,omitempty"`
	Intake            string    `json:"intake,omitempty"`
	EnqueuedAt        time.Time `json:"enqueued_at"`
	// Retry counts manual retries (node jobs retry); it makes the message id
	// new, because the server blocks an id for the whole duplicate window.
	Retry int `json:"retry,omitempty"`
}

// JobID returns the job id of a series processed by a model version.
func JobID(seriesUID, modelVersion string) string { return seriesUID + "@" + modelVersion }

// MsgID is the JetStream message id: the job id, plus the retry count.
func (j Job) MsgID() string {
	if j.Retry == 0 {
		return j.ID
	}
	return j.ID + "#retry" + strconv.Itoa(j.Retry)
}

// DeadJob is a job that will not be retried automatically; the message body
// on seg.dead.<priority>.
type DeadJob struct {
	Job Job `json:"job"`
	// LastError says why, in words a person can act on.
	LastError string `json:"last_error"`
	// Stage is the stage that failed last (empty when unknown).
	Stage Stage `json:"stage,omitempty"`
	// Attempts is the number of deliveries.
	Attempts int `json:"attempts"`
	// Permanent is true when the error was not worth retrying.
	Permanent bool      `json:"permanent"`
	FailedAt  time.Time `json:"failed_at"`
	Node      string    `json:"node,omitempty"`
	// Sequence is this entry's sequence in StreamDead (filled when listed).
	Sequence uint64 `json:"-"`
}

// QueueOptions configures streams and consumers. The zero value of each
// field means the documented default.
type QueueOptions struct {
	// Priorities lists job priorities, highest first. Default [normal].
	Priorities []string
	// DefaultPriority is used for jobs that name none. Default: the middle one.
	DefaultPriority string
	// IntakeSubject is the external event subject; empty disables it.
	IntakeSubject string
	// MaxDeliver is the number of attempts per job. Default 5.
	MaxDeliver int
	// AckWait is the time a job may go without heartbeat. Default 1m.
	AckWait time.Duration
	// Backoff lists delays before attempt 2, 3, ...; the last repeats.
	// Default [30s, 2m, 10m, 30m].
	Backoff []time.Duration
	// DuplicateWindow of the job stream. Default 24h.
	DuplicateWindow time.Duration
	// DeadLetterMaxAge of the dead-letter stream. Default 30 days.
	DeadLetterMaxAge time.Duration
	// ResultsMaxAge of the results stream. Default 7 days.
	ResultsMaxAge time.Duration
	// Replicas of every stream with a clustered external NATS. Default 1.
	Replicas int
}

func (o QueueOptions) withDefaults() QueueOptions {
	if len(o.Priorities) == 0 {
		o.Priorities = []string{"normal"}
	}
	if o.DefaultPriority == "" {
		o.DefaultPriority = o.Priorities[len(o.Priorities)/2]
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = 5
	}
	if o.AckWait <= 0 {
		o.AckWait = time.Minute
	}
	if len(o.Backoff) == 0 {
		o.Backoff = []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute}
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 24 * time.Hour
	}
	if o.DeadLetterMaxAge <= 0 {
		o.DeadLetterMaxAge = 30 * 24 * time.Hour
	}
	if o.ResultsMaxAge <= 0 {
		o.ResultsMaxAge = 7 * 24 * time.Hour
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	return o
}

// Delay returns the wait before the next attempt after attempt n (1-based)
// failed: Backoff[n-1], the last entry repeating.
func (o QueueOptions) Delay(attempt int) time.Duration {
	b := o.withDefaults().Backoff
	i := min(max(attempt-1, 0), len(b)-1)
	return b[i]
}

// Queue owns the node's streams: events, jobs, dead letters and results.
type Queue struct {
	bus     *Bus
	opts    QueueOptions
	events  jetstream.Stream
	jobs    jetstream.Stream
	dead    jetstream.Stream
	results jetstream.Stream
}

// NewQueue creates or updates the streams and consumers. Every node calls
// it; with an external NATS the later calls find them in place.
func NewQueue(ctx context.Context, bus *Bus, opts QueueOptions) (*Queue, error) {
	opts = opts.withDefaults()
	if !slices.Contains(opts.Priorities, opts.DefaultPriority) {
		return nil, fmt.Errorf("queue: default priority %q not in %v", opts.DefaultPriority, opts.Priorities)
	}
	q := &Queue{bus: bus, opts: opts}
	js := bus.JS
	evSubjects := []string{subjectIntakeInternal + ".>"}
	if opts.IntakeSubject != "" {
		evSubjects = append(evSubjects, opts.IntakeSubject)
	}
	var err error
	if q.events, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamEvents, Description: "announced studies, until routed",
		Subjects: evSubjects, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, Duplicates: time.Minute, MaxMsgSize: maxEventBytes,
		MaxAge: 7 * 24 * time.Hour,
	}); err != nil {
		return nil, fmt.Errorf("queue: stream %s: %w", StreamEvents, err)
	}
	if q.jobs, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamJobs, Description: "segmentation jobs, one per series",
		Subjects: []string{SubjectJobs + ".>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, Duplicates: opts.DuplicateWindow, MaxMsgSize: 64 << 10,
	}); err != nil {
		return nil, fmt.Errorf("queue: stream %s: %w", StreamJobs, err)
	}
	if q.dead, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamDead, Description: "dead-lettered jobs with their last error",
		Subjects: []string{SubjectDead + ".>"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, MaxAge: opts.DeadLetterMaxAge, Duplicates: 10 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("queue: stream %s: %w", StreamDead, err)
	}
	if q.results, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamResults, Description: "result events",
		Subjects: []string{"seg.results.>"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, MaxAge: opts.ResultsMaxAge,
	}); err != nil {
		return nil, fmt.Errorf("queue: stream %s: %w", StreamResults, err)
	}
	for _, p := range opts.Priorities {
		if _, err := q.jobConsumer(ctx, p); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// Options returns the effective options.
func (q *Queue) Options() QueueOptions { return q.opts }

// jobConsumer creates or updates the durable consumer of one priority. One
// consumer per priority keeps the work-queue rule (filters must not overlap)
// and lets a free worker take the highest priority first.
func (q *Queue) jobConsumer(ctx context.Context, priority string) (jetstream.Consumer, error) {
	c, err := q.bus.JS.CreateOrUpdateConsumer(ctx, StreamJobs, jetstream.ConsumerConfig{
		Durable:       consumerPrefix + priority,
		Description:   "segmentation workers, priority " + priority,
		FilterSubject: SubjectJobs + "." + priority,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.opts.AckWait,
		MaxDeliver:    q.opts.MaxDeliver,
		// Redelivery delays come from NakWithDelay (growing); the server's
		// own redelivery happens only when a worker vanished (AckWait).
		MaxAckPending: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: consumer %s%s: %w", consumerPrefix, priority, err)
	}
	return c, nil
}

// routerConsumer creates or updates the durable consumer of StreamEvents.
func (q *Queue) routerConsumer(ctx context.Context, ackWait time.Duration, maxDeliver int) (jetstream.Consumer, error) {
	c, err := q.bus.JS.CreateOrUpdateConsumer(ctx, StreamEvents, jetstream.ConsumerConfig{
		Durable:     consumerRouter,
		Description: "routing rules: study events to jobs",
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     ackWait,
		MaxDeliver:  maxDeliver,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: consumer %s: %w", consumerRouter, err)
	}
	return c, nil
}

// PublishEvent stores a study event for the router. intake (webhook,
// poller) becomes the subject's last token.
func (q *Queue) PublishEvent(ctx context.Context, ev StudyEvent) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding event: %w", err)
	}
	intake := ev.Intake
	if intake == "" {
		intake = "other"
	}
	if _, err := q.bus.JS.Publish(ctx, subjectIntakeInternal+"."+intake, data); err != nil {
		return fmt.Errorf("%w: publishing study event %s: %v", ErrNATSUnavailable, ev.StudyInstanceUID, err)
	}
	return nil
}

// Enqueue publishes a job on seg.jobs.<priority>. duplicate is true when the
// server dropped it because the same message id was queued within the
// duplicate window (the series is queued, running or was done recently).
func (q *Queue) Enqueue(ctx context.Context, job Job) (duplicate bool, err error) {
	if job.Priority == "" {
		job.Priority = q.opts.DefaultPriority
	}
	if !slices.Contains(q.opts.Priorities, job.Priority) {
		return false, fmt.Errorf("queue: priority %q not in %v", job.Priority, q.opts.Priorities)
	}
	if job.ID == "" {
		job.ID = JobID(job.SeriesInstanceUID, job.ModelVersion)
	}
	if job.EnqueuedAt.IsZero() {
		job.EnqueuedAt = time.Now().UTC()
	}
	data, err := json.Marshal(job)
	if err != nil {
		return false, fmt.Errorf("encoding job: %w", err)
	}
	ack, err := q.bus.JS.Publish(ctx, SubjectJobs+"."+job.Priority, data, jetstream.WithMsgID(job.MsgID()))
	if err != nil {
		return false, fmt.Errorf("%w: queueing job %s: %v", ErrNATSUnavailable, job.ID, err)
	}
	return ack.Duplicate, nil
}

// publishResult stores a result on its subject.
func (q *Queue) publishResult(ctx context.Context, r Result) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	subj := SubjectResultOK
	switch r.Outcome {
	case OutcomeFailed:
		subj = SubjectResultFailed
	case OutcomeSkipped:
		subj = SubjectResultSkipped
	}
	if _, err := q.bus.JS.Publish(ctx, subj, data); err != nil {
		return fmt.Errorf("%w: publishing result for %s: %v", ErrNATSUnavailable, r.SeriesInstanceUID, err)
	}
	return nil
}

// deadLetter stores d in StreamDead. The message id makes a second attempt
// for the same delivery (the handler and the max-deliveries advisory racing,
// or two nodes hearing the advisory) a no-op.
func (q *Queue) deadLetter(ctx context.Context, d DeadJob, jobSeq uint64) error {
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding dead letter: %w", err)
	}
	prio := d.Job.Priority
	if prio == "" {
		prio = q.opts.DefaultPriority
	}
	id := "dead-" + strconv.FormatUint(jobSeq, 10) + "-" + d.Job.MsgID()
	if _, err := q.bus.JS.Publish(ctx, SubjectDead+"."+prio, data, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("%w: dead-lettering job %s: %v", ErrNATSUnavailable, d.Job.ID, err)
	}
	return nil
}

// WatchMaxDeliveries moves jobs that reached MaxDeliver without the worker
// dead-lettering them itself (the node crashed or was killed on every
// attempt, so no handler saw the last failure) to the dead-letter stream,
// and deletes them from the work queue, where the server would otherwise
// keep them forever (TOOLCHAIN.md §4). It returns when ctx is done.
func (q *Queue) WatchMaxDeliveries(ctx context.Context, onDead func(DeadJob)) error {
	ch := make(chan *nats.Msg, 64)
	var subs []*nats.Subscription
	for _, p := range q.opts.Priorities {
		s, err := q.bus.Conn.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+StreamJobs+"."+consumerPrefix+p, ch)
		if err != nil {
			return fmt.Errorf("queue: max-deliveries advisory: %w", err)
		}
		subs = append(subs, s)
	}
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-ch:
			var adv struct {
				StreamSeq  uint64 `json:"stream_seq"`
				Deliveries int    `json:"deliveries"`
			}
			if json.Unmarshal(m.Data, &adv) != nil || adv.StreamSeq == 0 {
				continue
			}
			if d, ok := q.moveToDead(ctx, adv.StreamSeq, adv.Deliveries); ok && onDead != nil {
				onDead(d)
			}
		}
	}
}

// moveToDead dead-letters the job at seq if it is still in the work queue.
func (q *Queue) moveToDead(ctx context.Context, seq uint64, deliveries int) (DeadJob, bool) {
	raw, err := q.jobs.GetMsg(ctx, seq)
	if err != nil {
		return DeadJob{}, false // already acked, deleted or dead-lettered by the worker
	}
	var job Job
	_ = json.Unmarshal(raw.Data, &job)
	d := DeadJob{
		Job: job,
		LastError: fmt.Sprintf("delivered %d times without a result: the worker stopped, was killed or went silent for longer than ack_wait (%s) on every attempt; check the node's log for job_id %s",
			deliveries, q.opts.AckWait, job.ID),
		Attempts: deliveries,
		FailedAt: time.Now().UTC(),
	}
	if err := q.deadLetter(ctx, d, seq); err != nil {
		return DeadJob{}, false
	}
	if err := q.jobs.DeleteMsg(ctx, seq); err != nil {
		return DeadJob{}, false
	}
	return d, true
}

// QueuedJob is a job waiting in or being run from the work queue.
type QueuedJob struct {
	Job      Job
	Sequence uint64
	Subject  string
	Stored   time.Time
}

// walk visits every message of a stream on subject (a wildcard), oldest
// first, at most limit messages. It reads by sequence with next-by-subject
// gets: a second consumer on a work-queue stream would be refused.
func walk(ctx context.Context, st jetstream.Stream, subject string, limit int, visit func(*jetstream.RawStreamMsg) error) error {
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream info: %w", err)
	}
	seq := info.State.FirstSeq
	for n := 0; n < limit && seq <= info.State.LastSeq && info.State.Msgs > 0; n++ {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading message %d: %w", seq, err)
		}
		if err := visit(m); err != nil {
			return err
		}
		seq = m.Sequence + 1
	}
	return nil
}

// Queued lists jobs in the work queue (waiting, running, or waiting for a
// retry), oldest first, at most limit.
func (q *Queue) Queued(ctx context.Context, limit int) ([]QueuedJob, error) {
	var out []QueuedJob
	err := walk(ctx, q.jobs, SubjectJobs+".>", limit, func(m *jetstream.RawStreamMsg) error {
		var j Job
		if err := json.Unmarshal(m.Data, &j); err != nil {
			j.ID = "(undecodable message)"
		}
		out = append(out, QueuedJob{Job: j, Sequence: m.Sequence, Subject: m.Subject, Stored: m.Time})
		return nil
	})
	return out, err
}

// Dead lists dead-lettered jobs, oldest first, at most limit.
func (q *Queue) Dead(ctx context.Context, limit int) ([]DeadJob, error) {
	var out []DeadJob
	err := walk(ctx, q.dead, SubjectDead+".>", limit, func(m *jetstream.RawStreamMsg) error {
		var d DeadJob
		if err := json.Unmarshal(m.Data, &d); err != nil {
			d.Job.ID = "(undecodable message)"
		}
		d.Sequence = m.Sequence
		out = append(out, d)
		return nil
	})
	return out, err
}

// Results lists result events (seg.results.ok, .failed, .skipped) kept in
// the results stream, oldest first, at most limit; study, when not empty,
// keeps only that study's.
func (q *Queue) Results(ctx context.Context, study string, limit int) ([]Result, error) {
	var out []Result
	err := walk(ctx, q.results, "seg.results.>", limit, func(m *jetstream.RawStreamMsg) error {
		var r Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			r.Outcome, r.Reason = "undecodable", err.Error()
		}
		if study == "" || r.StudyInstanceUID == study {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// JobState is what `node jobs show` prints.
type JobState struct {
	// Queued is set when the job is in the work queue.
	Queued *QueuedJob
	// Dead lists the job's dead-letter entries, oldest first.
	Dead []DeadJob
}

// Show finds a job by id (SeriesInstanceUID@ModelVersion), by its series
// UID alone, or by a stream sequence ("dead:12", "queued:7").
func (q *Queue) Show(ctx context.Context, id string, limit int) (JobState, error) {
	var st JobState
	match := func(j Job, seq uint64, kind string) bool {
		return j.ID == id || j.SeriesInstanceUID == id || id == kind+":"+strconv.FormatUint(seq, 10)
	}
	queued, err := q.Queued(ctx, limit)
	if err != nil {
		return st, err
	}
	for i := range queued {
		if match(queued[i].Job, queued[i].Sequence, "queued") {
			st.Queued = &queued[i]
			break
		}
	}
	dead, err := q.Dead(ctx, limit)
	if err != nil {
		return st, err
	}
	for _, d := range dead {
		if match(d.Job, d.Sequence, "dead") {
			st.Dead = append(st.Dead, d)
		}
	}
	if st.Queued == nil && len(st.Dead) == 0 {
		return st, fmt.Errorf("%w: %s (node jobs list shows the ids)", ErrJobNotFound, id)
	}
	return st, nil
}

// Retry re-queues a dead-lettered job under a new message id (the old id is
// still blocked for the duplicate window) and removes its dead-letter
// entries. It returns the job as re-queued.
func (q *Queue) Retry(ctx context.Context, id string, limit int) (Job, error) {
	dead, err := q.Dead(ctx, limit)
	if err != nil {
		return Job{}, err
	}
	var hit []DeadJob
	for _, d := range dead {
		if d.Job.ID == id || d.Job.SeriesInstanceUID == id || id == "dead:"+strconv.FormatUint(d.Sequence, 10) {
			hit = append(hit, d)
		}
	}
	if len(hit) == 0 {
		return Job{}, fmt.Errorf("%w: no dead-lettered job %s (node jobs list shows the ids)", ErrJobNotFound, id)
	}
	job := hit[len(hit)-1].Job
	for _, d := range hit {
		job.Retry = max(job.Retry, d.Job.Retry)
	}
	job.Retry++
	job.EnqueuedAt = time.Now().UTC()
	job.Reason = strings.TrimSpace("retried by hand after: " + hit[len(hit)-1].LastError)
	if _, err := q.Enqueue(ctx, job); err != nil {
		return Job{}, err
	}
	for _, d := range hit {
		if err := q.dead.DeleteMsg(ctx, d.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return job, fmt.Errorf("job re-queued, but removing dead letter %d failed: %w", d.Sequence, err)
		}
	}
	return job, nil
}

// Depth returns the number of messages in the work queue per priority and
// in the dead-letter stream.
func (q *Queue) Depth(ctx context.Context) (perPriority map[string]uint64, dead uint64, err error) {
	info, err := q.jobs.Info(ctx, jetstream.WithSubjectFilter(SubjectJobs+".>"))
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", StreamJobs, err)
	}
	perPriority = map[string]uint64{}
	for _, p := range q.opts.Priorities {
		perPriority[p] = info.State.Subjects[SubjectJobs+"."+p]
	}
	dinfo, err := q.dead.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", StreamDead, err)
	}
	return perPriority, dinfo.State.Msgs, nil
}
