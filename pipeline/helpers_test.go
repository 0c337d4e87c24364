package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mhpnet/node/volume"
)

const testModel = "mhpnet-test-1"

// startBus starts an embedded JetStream server storing in dir (a
// t.TempDir()) and stops it in t.Cleanup.
func startBus(t *testing.T, dir string) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := ConnectNATS(ctx, NATSOptions{StoreDir: dir, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// secondConn opens another in-process connection to b's server, standing
// for a second node process; closing it is what a killed node looks like to
// the server.
func secondConn(t *testing.T, b *Bus) *Bus {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(b.Server))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &Bus{Conn: nc, JS: js}
}

func testQueueOptions() QueueOptions {
	return QueueOptions{
		Priorities: []string{"high", "normal"}, DefaultPriority: "normal",
		MaxDeliver: 3, AckWait: time.Second,
		Backoff: []time.Duration{300 * time.Millisecond, 600 * time.Millisecond},
	}
}

func newQueue(t *testing.T, b *Bus, o QueueOptions) *Queue {
	t.Helper()
	q, err := NewQueue(context.Background(), b, o)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// results collects result events from a core subscription.
type results struct {
	mu  sync.Mutex
	all []Result
}

func collectResults(t *testing.T, b *Bus) *results {
	t.Helper()
	r := &results{}
	sub, err := b.Conn.Subscribe("seg.results.>", func(m *nats.Msg) {
		var res Result
		if err := json.Unmarshal(m.Data, &res); err != nil {
			t.Errorf("result %s: %v", m.Data, err)
			return
		}
		r.mu.Lock()
		r.all = append(r.all, res)
		r.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := b.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *results) snapshot() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.all...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeStages records what each stage saw; failures are injected per stage.
type fakeStages struct {
	mu         sync.Mutex
	existing   map[string]string // series UID -> SEG series UID
	fetches    []time.Time
	segments   int
	stored     []EncodedSEG
	fetchErr   func(attempt int) error
	storeErr   func(attempt int) error
	segmentRun func(ctx context.Context) error // blocks or fails on demand
}

func (f *fakeStages) stages() Stages[string] {
	return Stages[string]{Finder: f, Fetcher: f, Segmenter: f, Encoder: f, Storer: f}
}

func (f *fakeStages) FindSEG(ctx context.Context, ref SeriesRef, mv string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.existing[ref.SeriesInstanceUID], nil
}

func (f *fakeStages) Fetch(ctx context.Context, ref SeriesRef) (Fetched[string], error) {
	f.mu.Lock()
	f.fetches = append(f.fetches, time.Now())
	n := len(f.fetches)
	f.mu.Unlock()
	if f.fetchErr != nil {
		if err := f.fetchErr(n); err != nil {
			return Fetched[string]{}, err
		}
	}
	g := volume.Geometry{Size: [3]int{4, 4, 3}, Spacing: [3]float64{1, 1, 2}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v, err := volume.NewVolume(g, 60)
	if err != nil {
		return Fetched[string]{}, err
	}
	return Fetched[string]{Series: ref.SeriesInstanceUID, Volume: v, Instances: 3}, nil
}

func (f *fakeStages) Segment(ctx context.Context, v *volume.Volume) (*volume.LabelVolume, Measurements, error) {
	f.mu.Lock()
	f.segments++
	f.mu.Unlock()
	if f.segmentRun != nil {
		if err := f.segmentRun(ctx); err != nil {
			return nil, Measurements{}, err
		}
	}
	l, err := volume.NewLabelVolume(v.Geometry)
	if err != nil {
		return nil, Measurements{}, err
	}
	for i := range 10 {
		l.Labels[i] = 1
	}
	l.Labels[20] = 2
	ml := v.VoxelVolumeML()
	return l, Measurements{LiverVolumeML: 11 * ml, Tumors: []Tumor{{VolumeML: ml, DiameterMM: 1, CentroidLPS: [3]float64{0, 1, 2}}}}, nil
}

func (f *fakeStages) Encode(ctx context.Context, src string, l *volume.LabelVolume, m Measurements) (EncodedSEG, error) {
	return EncodedSEG{Data: []byte("DICM"), SeriesInstanceUID: "2.25." + fmt.Sprint(len(src)), SOPInstanceUID: "2.25.1" + fmt.Sprint(l.Count(1))}, nil
}

func (f *fakeStages) Store(ctx context.Context, study string, seg EncodedSEG) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storeErr != nil {
		if err := f.storeErr(len(f.fetches)); err != nil {
			return err
		}
	}
	f.stored = append(f.stored, seg)
	return nil
}

func (f *fakeStages) counts() (fetches, segments, stored int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.fetches), f.segments, len(f.stored)
}

// runWorker starts a worker and returns a stop function that cancels it
// and waits for Run to return.
func runWorker(t *testing.T, q *Queue, f *fakeStages, opts WorkerOptions) (stop func()) {
	t.Helper()
	if opts.ModelVersion == "" {
		opts.ModelVersion = testModel
	}
	if opts.IdleWait == 0 {
		opts.IdleWait = 200 * time.Millisecond
	}
	w, err := NewWorker(q, f.stages(), opts, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("worker: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("worker did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func job(series string) Job {
	return Job{Source: "orthanc", StudyInstanceUID: "1.2.840.1", SeriesInstanceUID: series, ModelVersion: testModel, Rule: "ct"}
}

var errPACSDown = errors.New("connection refused")

func fetchWait(d time.Duration) jetstream.FetchOpt { return jetstream.FetchMaxWait(d) }
