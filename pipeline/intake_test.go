package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mhpnet/node/pipeline/rules"
)

// fakeLister answers ListSeries from a map, as QIDO-RS would.
type fakeLister struct {
	mu     sync.Mutex
	series map[string][]rules.Series
	err    error
	calls  int
}

func (f *fakeLister) ListSeries(ctx context.Context, source, study string) ([]rules.Series, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return append([]rules.Series(nil), f.series[study]...), nil
}

const studyUID = "1.2.840.99.1"

// liverStudy is a liver CT study: a localizer, a plain series and a
// contrast series.
func liverStudy() *fakeLister {
	return &fakeLister{series: map[string][]rules.Series{studyUID: {
		{SeriesInstanceUID: "1.2.840.99.1.1", Modality: "CT", ImageType: []string{"ORIGINAL", "PRIMARY", "LOCALIZER"}, NumberOfSlices: 2},
		{SeriesInstanceUID: "1.2.840.99.1.2", Modality: "CT", ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"}, SliceThickness: 5, NumberOfSlices: 60},
		{SeriesInstanceUID: "1.2.840.99.1.3", Modality: "CT", ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"}, ContrastBolusAgent: "Iomeron", SliceThickness: 1.25, NumberOfSlices: 240},
	}}}
}

func liverRules() *rules.Set {
	return &rules.Set{Rules: []rules.Rule{
		{Name: "no-localizer", Action: rules.Skip, Match: rules.Match{ImageTypeContains: []string{"LOCALIZER"}}},
		{Name: "ct-contrast", Action: rules.Process, Match: rules.Match{Modality: []string{"CT"}, ContrastBolusAgent: rules.Present}},
	}}
}

func startRouter(t *testing.T, q *Queue, l SeriesLister) {
	t.Helper()
	r, err := NewRouter(q, l, liverRules(), RouterOptions{ModelVersion: testModel, Source: "orthanc", Backoff: []time.Duration{100 * time.Millisecond}},
		zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestSameStudyThreeIntakes: one study announced on NATS, by the webhook and
// by the poller gives one job; the two other series are skipped each time
// with the rule's reason.
func TestSameStudyThreeIntakes(t *testing.T) {
	b := startBus(t, t.TempDir())
	o := testQueueOptions()
	o.IntakeSubject = SubjectStudyArrived
	q := newQueue(t, b, o)
	res := collectResults(t, b)
	startRouter(t, q, liverStudy())
	ctx := context.Background()

	// 1. A PACS-side bridge publishes on plain NATS.
	if err := b.Conn.Publish(SubjectStudyArrived, []byte(`{"source":"orthanc","StudyInstanceUID":"`+studyUID+`"}`)); err != nil {
		t.Fatal(err)
	}
	// 2. Orthanc's Lua script calls the webhook.
	hook, err := NewWebhook(q, WebhookOptions{Token: "0123456789abcdef"}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+WebhookPath, strings.NewReader(`{"StudyInstanceUID":"`+studyUID+`","ID":"abc"}`))
	req.Header.Set("Authorization", "Bearer 0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %s", resp.Status)
	}
	// 3. The poller announces it.
	if err := q.PublishEvent(ctx, StudyEvent{Source: "orthanc", StudyInstanceUID: studyUID, Intake: IntakePoller}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "6 skipped results", func() bool { return len(res.snapshot()) == 6 })
	queued, err := q.Queued(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 1 || queued[0].Job.SeriesInstanceUID != "1.2.840.99.1.3" || queued[0].Job.Rule != "ct-contrast" {
		t.Fatalf("queued %+v, want the contrast series once", queued)
	}
	reasons := map[string]int{}
	for _, r := range res.snapshot() {
		if r.Outcome != OutcomeSkipped {
			t.Errorf("result %+v", r)
		}
		reasons[r.SeriesInstanceUID+": "+r.Reason]++
	}
	want := map[string]int{
		`1.2.840.99.1.1: rule "no-localizer" (#1) matched (ImageType ORIGINAL\PRIMARY\LOCALIZER): skip`: 3,
		"1.2.840.99.1.2: no rule matched: default action skip":                                          3,
	}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("skip reasons (-want +got):\n%s", diff)
	}
}

func TestRouteSeriesFilterAndListError(t *testing.T) {
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, testQueueOptions())
	l := liverStudy()
	r, err := NewRouter(q, l, liverRules(), RouterOptions{ModelVersion: testModel}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := r.Route(ctx, StudyEvent{StudyInstanceUID: studyUID, SeriesInstanceUIDs: []string{"1.2.840.99.1.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Decisions) != 1 || got.Decisions[0].Action != rules.Skip || len(got.Queued) != 0 {
		t.Errorf("routed %+v, want only series .2, skipped", got)
	}
	l.err = errors.New("QIDO-RS: 503")
	if _, err := r.Route(ctx, StudyEvent{StudyInstanceUID: studyUID}); err == nil || !strings.Contains(err.Error(), "listing series of study 1.2.840.99.1: QIDO-RS: 503") {
		t.Errorf("err = %v", err)
	}
}

type fakePublisher struct {
	mu     sync.Mutex
	events []StudyEvent
}

func (f *fakePublisher) PublishEvent(ctx context.Context, ev StudyEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	return nil
}

func TestWebhookAuth(t *testing.T) {
	const token, secret = "bearer-secret-0123456789", "hmac-secret-abcdefghij"
	body := `{"StudyInstanceUID":"1.2.3.4.5"}`
	tests := []struct {
		name     string
		method   string
		body     string
		headers  map[string]string
		want     int
		accepted bool
	}{
		{"no secret", "POST", body, nil, 401, false},
		{"wrong bearer", "POST", body, map[string]string{"Authorization": "Bearer nope"}, 401, false},
		{"bearer prefix of the token", "POST", body, map[string]string{"Authorization": "Bearer " + token[:10]}, 401, false},
		{"basic instead of bearer", "POST", body, map[string]string{"Authorization": "Basic " + token}, 401, false},
		{"right bearer", "POST", body, map[string]string{"Authorization": "Bearer " + token}, 202, true},
		{"right bearer, lower-case scheme", "POST", body, map[string]string{"Authorization": "bearer " + token}, 202, true},
		{"right HMAC", "POST", body, map[string]string{SignatureHeader: Sign(secret, []byte(body))}, 202, true},
		{"HMAC of another body", "POST", body, map[string]string{SignatureHeader: Sign(secret, []byte(body+" "))}, 401, false},
		{"HMAC with the wrong secret", "POST", body, map[string]string{SignatureHeader: Sign("other", []byte(body))}, 401, false},
		{"HMAC not hex", "POST", body, map[string]string{SignatureHeader: "sha256=zz"}, 401, false},
		{"GET", "GET", "", map[string]string{"Authorization": "Bearer " + token}, 405, false},
		{"body too large", "POST", `{"StudyInstanceUID":"1.2.3","pad":"` + strings.Repeat("x", 2000) + `"}`, map[string]string{"Authorization": "Bearer " + token}, 413, false},
		{"not JSON", "POST", "StudyInstanceUID=1.2.3", map[string]string{"Authorization": "Bearer " + token}, 400, false},
		{"bad UID", "POST", `{"StudyInstanceUID":"1.2.abc"}`, map[string]string{"Authorization": "Bearer " + token}, 400, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			h, err := NewWebhook(pub, WebhookOptions{Token: token, HMACSecret: secret, MaxBodyBytes: 1024, Source: "orthanc"}, zap.NewNop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(tc.method, WebhookPath, strings.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
			if got := len(pub.events) == 1; got != tc.accepted {
				t.Fatalf("published %d events", len(pub.events))
			}
			if tc.accepted {
				ev := pub.events[0]
				if ev.StudyInstanceUID != "1.2.3.4.5" || ev.Source != "orthanc" || ev.Intake != IntakeWebhook {
					t.Errorf("event %+v", ev)
				}
				var rep webhookReply
				if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rep.Status != "accepted" {
					t.Errorf("reply %s", rec.Body)
				}
			}
			if tc.want == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if _, err := NewWebhook(&fakePublisher{}, WebhookOptions{}, zap.NewNop(), nil); err == nil {
		t.Error("webhook without a secret accepted")
	}
}

type fakeStudies struct {
	mu      sync.Mutex
	studies map[string]int
	since   []time.Time
}

func (f *fakeStudies) ListStudies(ctx context.Context, since time.Time) ([]StudyCount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.since = append(f.since, since)
	var out []StudyCount
	for uid, n := range f.studies {
		out = append(out, StudyCount{StudyInstanceUID: uid, Instances: n})
	}
	return out, nil
}

func (f *fakeStudies) set(uid string, n int) { f.mu.Lock(); f.studies[uid] = n; f.mu.Unlock() }

// TestPollerQuietPeriodAndRestart steps a poller through time: a study is
// announced only after its instance count has been still for the quiet
// period, once; what the poller knows survives a restart of the node and of
// its embedded NATS server.
func TestPollerQuietPeriodAndRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBus(t, dir)
	pacs := &fakeStudies{studies: map[string]int{"1.1": 120}} // already in the PACS
	pub := &fakePublisher{}
	opts := PollerOptions{Source: "orthanc", QuietPeriod: time.Minute, Lookback: 48 * time.Hour}
	ctx := context.Background()
	newPoller := func(b *Bus) *Poller {
		p, err := NewPoller(ctx, b, pacs, pub, opts, zap.NewNop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	p := newPoller(b)
	steps := []struct {
		name   string
		now    time.Time
		change func()
		want   []string
	}{
		{"first poll records what is there", at(0), nil, nil},
		{"study 2.2 arrives", at(10), func() { pacs.set("2.2", 40) }, nil},
		{"still growing", at(40), func() { pacs.set("2.2", 90) }, nil},
		{"quiet for 30 s only", at(70), nil, nil},
		{"quiet for 60 s", at(100), nil, []string{"2.2"}},
		{"announced once", at(200), nil, nil},
		{"study 3.3 arrives", at(210), func() { pacs.set("3.3", 10) }, nil},
		{"restart", at(220), nil, nil},
		{"3.3 quiet for 60 s across the restart", at(270), nil, []string{"3.3"}},
		{"2.2 grows: a new series", at(300), func() { pacs.set("2.2", 150) }, nil},
		{"2.2 announced again", at(360), nil, []string{"2.2"}},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		if s.name == "restart" {
			b.Close()
			b = startBus(t, dir)
			p = newPoller(b)
			hwm, err := p.HighWaterMark(ctx)
			if err != nil || !hwm.Equal(at(210)) {
				t.Fatalf("high-water mark after restart = %v (%v), want %v", hwm, err, at(210))
			}
		}
		got, err := p.Poll(ctx, s.now)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: announced (-want +got):\n%s", s.name, diff)
		}
	}
	if len(pub.events) != 3 || pub.events[0].Intake != IntakePoller || pub.events[0].Source != "orthanc" {
		t.Errorf("events %+v", pub.events)
	}
	// Lookback counts from the high-water mark: the poll at 270 s (after the
	// restart) asked for studies from 220 s - 48 h.
	if got, want := pacs.since[8], at(220).Add(-48*time.Hour); !got.Equal(want) {
		t.Errorf("since = %v, want %v", got, want)
	}
}

func TestPollerBackfill(t *testing.T) {
	b := startBus(t, t.TempDir())
	pacs := &fakeStudies{studies: map[string]int{"1.1": 120}}
	pub := &fakePublisher{}
	p, err := NewPoller(context.Background(), b, pacs, pub, PollerOptions{QuietPeriod: time.Minute, Backfill: true}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i, want := range [][]string{nil, {"1.1"}, nil} {
		got, err := p.Poll(context.Background(), t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("poll %d (-want +got):\n%s", i, diff)
		}
	}
}

func FuzzParseStudyEvent(f *testing.F) {
	f.Add([]byte(`{"source":"orthanc","StudyInstanceUID":"1.2.3","SeriesInstanceUIDs":["1.2.3.4"]}`))
	f.Add([]byte(`{"StudyInstanceUID":"1.2.3","ID":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ParseStudyEvent(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("error not ErrInvalidEvent: %v", err)
			}
			return
		}
		if !ValidUID(ev.StudyInstanceUID) {
			t.Fatalf("accepted bad UID %q", ev.StudyInstanceUID)
		}
		if _, err := json.Marshal(ev); err != nil {
			t.Fatal(err)
		}
	})
}
