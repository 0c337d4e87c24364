package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// BucketPoller is the JetStream key-value bucket holding the poller's state:
// its high-water mark and, per study, the instance count last seen and last
// announced. It lives with the queue, so it survives restarts and is shared
// by nodes on one external NATS.
const BucketPoller = "MHPNET_POLLER"

// StudyCount is a study and its number of instances, from QIDO-RS
// (NumberOfStudyRelatedInstances).
type StudyCount struct {
	StudyInstanceUID string
	Instances        int
}

// StudyLister lists studies in the PACS.
type StudyLister interface {
	// ListStudies returns every study whose StudyDate is on or after the
	// date of since; the zero time means every study.
	ListStudies(ctx context.Context, since time.Time) ([]StudyCount, error)
}

// PollerOptions configures a Poller.
type PollerOptions struct {
	// Source names the PACS in the events.
	Source string
	// Interval between polls. Default 30s.
	Interval time.Duration
	// QuietPeriod a study's instance count must stay unchanged. Default 1m.
	QuietPeriod time.Duration
	// Lookback limits the query to studies at most this old (by
	// StudyDate), counted from the high-water mark; 0 means every study.
	Lookback time.Duration
	// Backfill announces the studies found on the very first poll instead
	// of recording them as seen.
	Backfill bool
}

// Poller finds new or grown studies with QIDO-RS and announces each once its
// instance count has been stable for the quiet period.
type Poller struct {
	lister  StudyLister
	pub     EventPublisher
	kv      jetstream.KeyValue
	opts    PollerOptions
	log     *zap.Logger
	metrics *Metrics
	cache   map[string]studyState
}

// studyState is one study's entry in the bucket.
type studyState struct {
	// Count is the instance count last seen; ChangedAt when it last changed.
	Count     int       `json:"count"`
	ChangedAt time.Time `json:"changed_at"`
	// Announced is the instance count at the last announcement (or when
	// recorded as already present on the first poll); 0 means never.
	Announced int `json:"announced"`
}

const keyHighWater = "hwm"

// NewPoller opens (or creates) the state bucket. metrics may be nil.
func NewPoller(ctx context.Context, bus *Bus, lister StudyLister, pub EventPublisher, opts PollerOptions, log *zap.Logger, m *Metrics) (*Poller, error) {
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.QuietPeriod <= 0 {
		opts.QuietPeriod = time.Minute
	}
	kv, err := bus.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: BucketPoller, Description: "QIDO-RS poller: high-water mark and studies seen", Storage: jetstream.FileStorage, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("poller: bucket %s: %w", BucketPoller, err)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Poller{lister: lister, pub: pub, kv: kv, opts: opts, log: log.With(zap.String("component", "poller")), metrics: m,
		cache: map[string]studyState{}}, nil
}

// HighWaterMark returns the time of the last completed poll; zero before
// the first.
func (p *Poller) HighWaterMark(ctx context.Context) (time.Time, error) {
	e, err := p.kv.Get(ctx, keyHighWater)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("poller: reading high-water mark: %w", err)
	}
	var t time.Time
	if err := t.UnmarshalText(e.Value()); err != nil {
		return time.Time{}, fmt.Errorf("poller: high-water mark %q: %w", e.Value(), err)
	}
	return t, nil
}

// Poll looks at the PACS once, as of now, and returns the studies announced.
func (p *Poller) Poll(ctx context.Context, now time.Time) ([]string, error) {
	hwm, err := p.HighWaterMark(ctx)
	if err != nil {
		return nil, err
	}
	first := hwm.IsZero()
	var since time.Time
	if p.opts.Lookback > 0 {
		base := now
		if !first && hwm.Before(now) {
			base = hwm // after a long stop, look back from where we left off
		}
		since = base.Add(-p.opts.Lookback)
	}
	studies, err := p.lister.ListStudies(ctx, since)
	if err != nil {
		p.metrics.PACSErrors.WithLabelValues("list").Inc()
		return nil, fmt.Errorf("poller: listing studies: %w", err)
	}
	var announced []string
	for _, s := range studies {
		if !ValidUID(s.StudyInstanceUID) {
			continue
		}
		st, found, err := p.state(ctx, s.StudyInstanceUID)
		if err != nil {
			return announced, err
		}
		switch {
		case !found:
			st = studyState{Count: s.Instances, ChangedAt: now}
			if first && !p.opts.Backfill {
				st.Announced = s.Instances // already there before the node: seen, not new
			}
		case st.Count != s.Instances:
			st.Count, st.ChangedAt = s.Instances, now
		case st.Announced != st.Count && now.Sub(st.ChangedAt) >= p.opts.QuietPeriod:
			ev := StudyEvent{Source: p.opts.Source, StudyInstanceUID: s.StudyInstanceUID, Intake: IntakePoller, Time: now.UTC()}
			if err := p.pub.PublishEvent(ctx, ev); err != nil {
				return announced, err
			}
			p.metrics.Events.WithLabelValues(IntakePoller, "accepted").Inc()
			p.log.Info("study stable; announced", zap.String("study_uid", s.StudyInstanceUID), zap.Int("instances", s.Instances))
			st.Announced = st.Count
			announced = append(announced, s.StudyInstanceUID)
		default:
			continue // nothing changed
		}
		if err := p.save(ctx, s.StudyInstanceUID, st); err != nil {
			return announced, err
		}
	}
	mark, _ := now.UTC().MarshalText()
	if _, err := p.kv.Put(ctx, keyHighWater, mark); err != nil {
		return announced, fmt.Errorf("poller: saving high-water mark: %w", err)
	}
	return announced, nil
}

func (p *Poller) state(ctx context.Context, uid string) (studyState, bool, error) {
	if st, ok := p.cache[uid]; ok {
		return st, true, nil
	}
	e, err := p.kv.Get(ctx, "study."+uid)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return studyState{}, false, nil
	}
	if err != nil {
		return studyState{}, false, fmt.Errorf("poller: reading state of %s: %w", uid, err)
	}
	var st studyState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return studyState{}, false, nil // unreadable: treat as new
	}
	p.cache[uid] = st
	return st, true, nil
}

func (p *Poller) save(ctx context.Context, uid string, st studyState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("poller: encoding state: %w", err)
	}
	if _, err := p.kv.Put(ctx, "study."+uid, data); err != nil {
		return fmt.Errorf("poller: saving state of %s: %w", uid, err)
	}
	p.cache[uid] = st
	return nil
}

// Run polls every Interval until ctx is cancelled. A failed poll is logged
// and tried again at the next tick.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		if _, err := p.Poll(ctx, time.Now()); err != nil && ctx.Err() == nil {
			p.log.Warn("poll failed; will try again", zap.Error(err), zap.Duration("retry_in", p.opts.Interval))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
