package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEnqueueDropsDuplicates(t *testing.T) {
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, testQueueOptions())
	ctx := context.Background()
	tests := []struct {
		name    string
		job     Job
		wantDup bool
	}{
		{"first event for series A", job("1.2.3.1"), false},
		{"same series, second announcement", job("1.2.3.1"), true},
		{"same series, other priority: still one job", func() Job { j := job("1.2.3.1"); j.Priority = "high"; return j }(), true},
		{"series B", job("1.2.3.2"), false},
		{"series A, other model version", func() Job { j := job("1.2.3.1"); j.ModelVersion = "mhpnet-test-2"; return j }(), false},
		{"series A again, third announcement", job("1.2.3.1"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dup, err := q.Enqueue(ctx, tc.job)
			if err != nil {
				t.Fatal(err)
			}
			if dup != tc.wantDup {
				t.Errorf("duplicate = %v, want %v", dup, tc.wantDup)
			}
		})
	}
	queued, err := q.Queued(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range queued {
		ids = append(ids, j.Job.ID)
	}
	want := []string{"1.2.3.1@mhpnet-test-1", "1.2.3.2@mhpnet-test-1", "1.2.3.1@mhpnet-test-2"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("queued ids (-want +got):\n%s", diff)
	}
	per, dead, err := q.Depth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]uint64{"high": 0, "normal": 3}, per); diff != "" || dead != 0 {
		t.Errorf("depth (-want +got):\n%s dead=%d", diff, dead)
	}
	if _, err := q.Enqueue(ctx, func() Job { j := job("1.2.3.9"); j.Priority = "urgent"; return j }()); err == nil {
		t.Error("unknown priority accepted")
	}
}

func TestDelayGrows(t *testing.T) {
	o := QueueOptions{Backoff: []time.Duration{time.Second, 5 * time.Second, time.Minute}}
	var got []time.Duration
	for a := 1; a <= 5; a++ {
		got = append(got, o.Delay(a))
	}
	want := []time.Duration{time.Second, 5 * time.Second, time.Minute, time.Minute, time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestWorkerOK runs one job through every stage and checks the result event.
func TestWorkerOK(t *testing.T) {
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, testQueueOptions())
	res := collectResults(t, b)
	f := &fakeStages{}
	runWorker(t, q, f, WorkerOptions{Node: "n1"})
	if _, err := q.Enqueue(context.Background(), job("1.2.3.1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "ok result", func() bool { return len(res.snapshot()) == 1 })
	r := res.snapshot()[0]
	if r.Outcome != OutcomeOK || r.Attempt != 1 || r.SEG.SeriesInstanceUID != "2.25.7" || r.Instances != 3 || r.Node != "n1" {
		t.Errorf("result %+v", r)
	}
	// 11 voxels of 2 µl: 0.022 ml liver, one tumor of 0.002 ml.
	if r.Measurements == nil || r.Measurements.LiverVolumeML != 0.022 || len(r.Measurements.Tumors) != 1 || r.Measurements.Tumors[0].VolumeML != 0.002 {
		t.Errorf("measurements %+v", r.Measurements)
	}
	for _, s := range []Stage{StageCheck, StageFetch, StageSegment, StageEncode, StageStore} {
		if _, ok := r.Timings[string(s)]; !ok {
			t.Errorf("no timing for %s: %v", s, r.Timings)
		}
	}
	waitFor(t, 5*time.Second, "empty queue", func() bool {
		per, _, err := q.Depth(context.Background())
		return err == nil && per["normal"] == 0
	})
}

func TestWorkerSkipsSeriesWithSEG(t *testing.T) {
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, testQueueOptions())
	res := collectResults(t, b)
	f := &fakeStages{existing: map[string]string{"1.2.3.1": "2.25.42"}}
	runWorker(t, q, f, WorkerOptions{})
	if _, err := q.Enqueue(context.Background(), job("1.2.3.1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "skip result", func() bool { return len(res.snapshot()) == 1 })
	r := res.snapshot()[0]
	if r.Outcome != OutcomeSkipped || !strings.Contains(r.Reason, "already references this series") || r.SEG.SeriesInstanceUID != "2.25.42" {
		t.Errorf("result %+v", r)
	}
	if fe, _, _ := f.counts(); fe != 0 {
		t.Errorf("fetched %d times, want 0 (idempotency check comes first)", fe)
	}
}

// TestWorkerRetryThenDeadLetter: a PACS that refuses every STOW makes the job
// retry with growing delays, then land in the dead-letter stream with the
// error; node jobs list/show see it, and retry runs it again.
func TestWorkerRetryThenDeadLetter(t *testing.T) {
	b := startBus(t, t.TempDir())
	o := testQueueOptions()
	q := newQueue(t, b, o)
	res := collectResults(t, b)
	pacsUp := false
	f := &fakeStages{}
	f.storeErr = func(int) error {
		if pacsUp {
			return nil
		}
		return fmt.Errorf("STOW-RS http://pacs/dicom-web/studies: %w", errPACSDown)
	}
	stop := runWorker(t, q, f, WorkerOptions{})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, job("1.2.3.1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "failed result", func() bool { return len(res.snapshot()) == 1 })
	r := res.snapshot()[0]
	if r.Outcome != OutcomeFailed || r.Attempt != 3 || r.Stage != StageStore || !strings.Contains(r.Reason, "connection refused") {
		t.Errorf("result %+v", r)
	}
	f.mu.Lock()
	times := append([]time.Time(nil), f.fetches...)
	f.mu.Unlock()
	if len(times) != 3 {
		t.Fatalf("%d attempts, want MaxDeliver=3", len(times))
	}
	// The redelivery delays are at least the configured, growing backoff.
	for i, want := range o.Backoff {
		if gap := times[i+1].Sub(times[i]); gap < want {
			t.Errorf("delay before attempt %d = %s, want >= %s", i+2, gap, want)
		}
	}
	dead, err := q.Dead(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Job.ID != "1.2.3.1@"+testModel || dead[0].Attempts != 3 || dead[0].Stage != StageStore ||
		dead[0].Permanent || !strings.Contains(dead[0].LastError, "store: STOW-RS http://pacs/dicom-web/studies: connection refused") {
		t.Fatalf("dead letters %+v", dead)
	}
	queued, err := q.Queued(ctx, 10)
	if err != nil || len(queued) != 0 {
		t.Fatalf("work queue still holds %+v (%v)", queued, err)
	}
	st, err := q.Show(ctx, "1.2.3.1", 100)
	if err != nil || len(st.Dead) != 1 || st.Queued != nil {
		t.Fatalf("show: %+v %v", st, err)
	}
	if _, err := q.Show(ctx, "9.9.9", 100); !errors.Is(err, ErrJobNotFound) {
		t.Errorf("show unknown: %v, want ErrJobNotFound", err)
	}

	// The PACS is back; the administrator retries the job.
	pacsUp = true
	f.mu.Lock()
	pacsUp = true
	f.mu.Unlock()
	j, err := q.Retry(ctx, "1.2.3.1@"+testModel, 100)
	if err != nil {
		t.Fatal(err)
	}
	if j.Retry != 1 || j.MsgID() != "1.2.3.1@"+testModel+"#retry1" {
		t.Errorf("retried job %+v", j)
	}
	waitFor(t, 10*time.Second, "ok result after retry", func() bool { return len(res.snapshot()) == 2 })
	if r := res.snapshot()[1]; r.Outcome != OutcomeOK || r.Attempt != 1 {
		t.Errorf("result after retry %+v", r)
	}
	if dead, _ := q.Dead(ctx, 10); len(dead) != 0 {
		t.Errorf("dead letters after retry: %+v", dead)
	}
	if _, err := q.Retry(ctx, "1.2.3.1", 100); !errors.Is(err, ErrJobNotFound) {
		t.Errorf("second retry: %v, want ErrJobNotFound", err)
	}
	stop()
}

func TestWorkerPermanentFailure(t *testing.T) {
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, testQueueOptions())
	res := collectResults(t, b)
	errRefused := errors.New("refused: series has a missing slice between z=10 and z=12")
	f := &fakeStages{fetchErr: func(int) error { return fmt.Errorf("reading series: %w", errRefused) }}
	runWorker(t, q, f, WorkerOptions{IsPermanent: func(err error) bool { return errors.Is(err, errRefused) }})
	if _, err := q.Enqueue(context.Background(), job("1.2.3.1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "failed result", func() bool { return len(res.snapshot()) == 1 })
	dead, err := q.Dead(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Attempts != 1 || !dead[0].Permanent || dead[0].Stage != StageFetch ||
		dead[0].LastError != "fetch: reading series: refused: series has a missing slice between z=10 and z=12" {
		t.Errorf("dead letters %+v", dead)
	}
}

// TestWorkerInterrupted: a worker stopped mid-job (SIGTERM past the drain
// timeout) hands the job back; a node killed mid-job stops heartbeating and
// the server redelivers after AckWait. Either way another worker completes it.
func TestWorkerInterrupted(t *testing.T) {
	tests := []struct {
		name  string
		crash bool
	}{
		{"graceful stop hands back", false},
		{"killed node redelivered after ack wait", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := startBus(t, t.TempDir())
			q := newQueue(t, b, testQueueOptions())
			res := collectResults(t, b)
			started := make(chan struct{}, 1)
			blocking := &fakeStages{segmentRun: func(ctx context.Context) error {
				started <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}}
			q1 := q
			var killConn func()
			if tc.crash {
				nb := secondConn(t, b)
				q1 = newQueue(t, nb, testQueueOptions())
				killConn = nb.Conn.Close
			}
			stop1 := runWorker(t, q1, blocking, WorkerOptions{DrainTimeout: 100 * time.Millisecond})
			if _, err := q.Enqueue(context.Background(), job("1.2.3.1")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("job never started")
			}
			if tc.crash {
				killConn()
			}
			stop1()
			f2 := &fakeStages{}
			runWorker(t, q, f2, WorkerOptions{})
			waitFor(t, 15*time.Second, "ok result", func() bool { return len(res.snapshot()) == 1 })
			r := res.snapshot()[0]
			if r.Outcome != OutcomeOK || r.Attempt != 2 {
				t.Errorf("result %+v, want ok on attempt 2", r)
			}
			if _, _, stored := blocking.counts(); stored != 0 {
				t.Errorf("interrupted worker stored %d SEGs", stored)
			}
			if _, seg, stored := f2.counts(); seg != 1 || stored != 1 {
				t.Errorf("second worker: %d segmentations, %d stored; want 1, 1", seg, stored)
			}
		})
	}
}

// TestWorkerHeartbeat: a job three times longer than AckWait runs once.
func TestWorkerHeartbeat(t *testing.T) {
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, testQueueOptions()) // AckWait 1s
	res := collectResults(t, b)
	f := &fakeStages{segmentRun: func(ctx context.Context) error {
		select {
		case <-time.After(3 * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	runWorker(t, q, f, WorkerOptions{Concurrency: 2})
	if _, err := q.Enqueue(context.Background(), job("1.2.3.1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "ok result", func() bool { return len(res.snapshot()) == 1 })
	if r := res.snapshot()[0]; r.Attempt != 1 {
		t.Errorf("attempt %d, want 1", r.Attempt)
	}
	if _, seg, _ := f.counts(); seg != 1 {
		t.Errorf("segmented %d times, want 1 (the second worker must not get the job)", seg)
	}
}

// TestMaxDeliveriesAdvisory: a job whose node dies on every attempt reaches
// MaxDeliver without any handler seeing its end; the advisory watcher moves
// it to the dead-letter stream and out of the work queue.
func TestMaxDeliveriesAdvisory(t *testing.T) {
	b := startBus(t, t.TempDir())
	o := testQueueOptions()
	o.MaxDeliver = 2
	q := newQueue(t, b, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan DeadJob, 1)
	go func() { _ = q.WatchMaxDeliveries(ctx, func(d DeadJob) { got <- d }) }()
	if _, err := q.Enqueue(ctx, job("1.2.3.1")); err != nil {
		t.Fatal(err)
	}
	cons, err := b.JS.Consumer(ctx, StreamJobs, consumerPrefix+"normal")
	if err != nil {
		t.Fatal(err)
	}
	// Take the job twice and never settle it: what a killed node does.
	for i := 0; i < 2; i++ {
		batch, err := cons.Fetch(1, fetchWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for range batch.Messages() {
			n++
		}
		if n != 1 {
			t.Fatalf("delivery %d: %d messages", i+1, n)
		}
	}
	// The server notices the exhausted job when a worker next pulls.
	go func() {
		for ctx.Err() == nil {
			if batch, err := cons.Fetch(1, fetchWait(500*time.Millisecond)); err == nil {
				for range batch.Messages() {
					t.Error("job delivered a third time")
				}
			}
		}
	}()
	select {
	case d := <-got:
		if d.Attempts != 2 || d.Job.ID != "1.2.3.1@"+testModel || !strings.Contains(d.LastError, "delivered 2 times without a result") {
			t.Errorf("dead job %+v", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no dead letter from the advisory")
	}
	if queued, err := q.Queued(ctx, 10); err != nil || len(queued) != 0 {
		t.Errorf("work queue still holds %+v (%v)", queued, err)
	}
	if dead, err := q.Dead(ctx, 10); err != nil || len(dead) != 1 {
		t.Errorf("dead letters %+v (%v)", dead, err)
	}
}

// TestTwoNodesShareTheQueue: workers of two nodes (separate connections) on
// one server take jobs from the same durable consumers; every job runs once.
func TestTwoNodesShareTheQueue(t *testing.T) {
	b := startBus(t, t.TempDir())
	q1 := newQueue(t, b, testQueueOptions())
	q2 := newQueue(t, secondConn(t, b), testQueueOptions())
	res := collectResults(t, b)
	slow := func(ctx context.Context) error {
		select {
		case <-time.After(50 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f1, f2 := &fakeStages{segmentRun: slow}, &fakeStages{segmentRun: slow}
	runWorker(t, q1, f1, WorkerOptions{Node: "n1", Concurrency: 2})
	runWorker(t, q2, f2, WorkerOptions{Node: "n2", Concurrency: 2})
	const n = 20
	for i := range n {
		j := job(fmt.Sprintf("1.2.3.%d", i+1))
		if i%4 == 0 {
			j.Priority = "high"
		}
		if _, err := q1.Enqueue(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "20 results", func() bool { return len(res.snapshot()) >= n })
	seen := map[string]int{}
	nodes := map[string]int{}
	for _, r := range res.snapshot() {
		seen[r.SeriesInstanceUID]++
		nodes[r.Node]++
		if r.Outcome != OutcomeOK || r.Attempt != 1 {
			t.Errorf("result %+v", r)
		}
	}
	for s, c := range seen {
		if c != 1 {
			t.Errorf("series %s processed %d times", s, c)
		}
	}
	_, seg1, _ := f1.counts()
	_, seg2, _ := f2.counts()
	if len(seen) != n || seg1+seg2 != n || nodes["n1"] == 0 || nodes["n2"] == 0 {
		t.Errorf("%d series done; segmentations n1=%d n2=%d; results by node %v", len(seen), seg1, seg2, nodes)
	}
}
