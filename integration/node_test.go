package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/dicomweb"
	"github.com/mhpnet/node/dicomweb/orthanctest"
	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/pipeline"
	"github.com/mhpnet/node/segmentation"
)

// segBound is how long the node may take from the upload of CRLM-CT-1004
// (41 slices) to its SEG being in Orthanc: Orthanc's StableAge (2 s), the
// webhook, WADO-RS, MHP-Net on two shared cores, STOW-RS.
const segBound = 3 * time.Minute

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// nodeProc is a running `node serve`.
type nodeProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startNode(t *testing.T, bin string, env []string, args ...string) *nodeProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &nodeProc{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("node output:\n%s", p.out.String())
		}
	})
	return p
}

// TestNodeServeEndToEnd: the built binary with its embedded NATS next to a
// real Orthanc whose Lua OnStableStudy calls the webhook. CRLM-CT-1004 is
// uploaded; its SEG must be in Orthanc within segBound, referencing the
// source series, and the result event must carry the measurements. The same
// study announced again on NATS gives no second SEG; the webhook refuses a
// request without the secret; SIGTERM ends the node with exit code 0.
func TestNodeServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the node, starts Orthanc, runs the model")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	// The embedded model when it is usable; a tiny one (plumbing only)
	// while it is not.
	bin, model := sharedNode(t)
	if _, err := segmentation.DefaultModel(); err == nil {
		model = ""
	} else {
		t.Logf("embedded model not usable (%v): using the tiny one", err)
	}
	crlm := testdata.CT(t, "ct/crlm-ct-1004")

	httpPort, natsPort := freePort(t), freePort(t)
	const token = "integration-token-0123456789"
	t.Setenv("MHPNET_WEBHOOK_URL", fmt.Sprintf("http://127.0.0.1:%d/v1/events/study", httpPort))
	t.Setenv("MHPNET_WEBHOOK_TOKEN", token)
	lua, err := os.ReadFile(filepath.Join(filepath.Dir(here), "deploy", "orthanc", "mhpnet-webhook.lua"))
	if err != nil {
		t.Fatal(err)
	}
	orthanc := orthanctest.Start(t, orthanctest.Options{StableAge: 2, LuaScripts: []string{string(lua)}})

	cfg := fmt.Sprintf(`node: {name: it-1, data_dir: %s, log_format: json}
http: {listen: "127.0.0.1:%d", shutdown_timeout: 30s}
pacs: {name: orthanc, url: %q}
nats: {embedded: {listen: "127.0.0.1:%d"}}
model: {path: %q}
queue: {backoff: [2s, 5s]}
intake:
  webhook: {enabled: true, token: {env: HOOK_TOKEN}}
routing:
  rules:
    - name: ct-contrast
      action: process
      match: {modality: [CT], contrast_bolus_agent: present, number_of_slices: {min: 20}}
`, filepath.Join(tmp, "data"), httpPort, orthanc.DICOMwebURL(), natsPort, model)
	cfgPath := filepath.Join(tmp, "node.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	node := startNode(t, bin, []string{"HOOK_TOKEN=" + token}, "serve", "--config", cfgPath)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitUntil(t, 60*time.Second, "node ready", func() bool {
		r, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
	if !strings.Contains(node.out.String(), "# node ") || strings.Contains(node.out.String(), token) {
		t.Errorf("start-up must print the configuration with the secret masked:\n%s", node.out.String())
	}

	// Results, read on the node's embedded NATS.
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", natsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var results []pipeline.Result
	sub, err := nc.Subscribe("seg.results.>", func(m *nats.Msg) {
		var r pipeline.Result
		if json.Unmarshal(m.Data, &r) == nil {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// The webhook refuses a request without the secret.
	resp, err := http.Post(base+pipeline.WebhookPath, "application/json", strings.NewReader(`{"StudyInstanceUID":"1.2.3"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("webhook without secret: %s, want 401", resp.Status)
	}

	start := time.Now()
	up, err := orthanc.UploadDir(ctx, crlm)
	if err != nil || len(up) != 41 {
		t.Fatalf("upload: %d instances, %v", len(up), err)
	}
	okResults := func() []pipeline.Result {
		mu.Lock()
		defer mu.Unlock()
		var out []pipeline.Result
		for _, r := range results {
			if r.Outcome == pipeline.OutcomeOK {
				out = append(out, r)
			}
		}
		return out
	}
	waitUntil(t, segBound, "seg.results.ok", func() bool { return len(okResults()) > 0 })
	t.Logf("SEG stored %.1f s after the upload started", time.Since(start).Seconds())
	r := okResults()[0]
	client, err := dicomweb.New(dicomweb.Options{BaseURL: orthanc.DICOMwebURL()})
	if err != nil {
		t.Fatal(err)
	}
	series, err := client.SearchSeries(ctx, r.StudyInstanceUID, dicomweb.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var ct, segs []dicomweb.Series
	for _, s := range series {
		switch s.Modality {
		case "CT":
			ct = append(ct, s)
		case "SEG":
			segs = append(segs, s)
		}
	}
	if len(ct) != 1 || len(segs) != 1 || segs[0].SeriesInstanceUID != r.SEG.SeriesInstanceUID ||
		r.SEG.SeriesInstanceUID != seg.DerivedUID(ct[0].SeriesInstanceUID, r.ModelVersion, "series") || r.SeriesInstanceUID != ct[0].SeriesInstanceUID {
		t.Fatalf("series in Orthanc: CT %+v, SEG %+v; result %+v", ct, segs, r)
	}
	if r.Measurements == nil || r.Measurements.LiverVolumeML <= 0 || r.Instances != 41 || r.Timings["total"] <= 0 {
		t.Errorf("result event %+v", r)
	}
	t.Logf("result: liver %.0f mL, %d tumors, timings %v", r.Measurements.LiverVolumeML, len(r.Measurements.Tumors), r.Timings)

	// The SEG references the source series (every instance of it).
	var segRaw bytes.Buffer
	if _, err := client.RetrieveSeries(ctx, r.StudyInstanceUID, r.SEG.SeriesInstanceUID, func(p *dicomweb.Part) error {
		_, err := segRaw.ReadFrom(p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sg, err := seg.Read(ctx, bytes.NewReader(segRaw.Bytes()), int64(segRaw.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if sg.ReferencedSeriesInstanceUID != ct[0].SeriesInstanceUID || len(sg.ReferencedInstances) != 41 {
		t.Errorf("SEG references series %s with %d instances, want %s with 41", sg.ReferencedSeriesInstanceUID, len(sg.ReferencedInstances), ct[0].SeriesInstanceUID)
	}

	// Announced again on NATS: dropped as a duplicate, still one SEG.
	ev, _ := json.Marshal(pipeline.StudyEvent{Source: "orthanc", StudyInstanceUID: r.StudyInstanceUID})
	if err := nc.Publish(pipeline.SubjectStudyArrived, ev); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the NATS announcement routed", func() bool {
		return strings.Contains(node.out.String(), `"intake":"nats"`) && strings.Contains(node.out.String(), "duplicate dropped")
	})
	series, err = client.SearchSeries(ctx, r.StudyInstanceUID, dicomweb.Query{Match: map[string]string{"Modality": "SEG"}})
	if err != nil || len(series) != 1 || len(okResults()) != 1 {
		t.Errorf("after a second announcement: %d SEG series, %d ok results (%v); want 1, 1", len(series), len(okResults()), err)
	}

	// SIGTERM: a clean exit.
	if err := node.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-node.done:
		if err != nil {
			t.Errorf("node exit after SIGTERM: %v, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("node did not stop within 60 s of SIGTERM")
	}
	// A bad configuration: exit code 2 and the file:line of the problem.
	bad := filepath.Join(tmp, "bad.yaml")
	if err := os.WriteFile(bad, []byte("pacs: {url: ftp://x}\nqueue: {max_deliver: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bin, "serve", "--config", bad).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), bad+":1:8: pacs.url:") || !strings.Contains(string(out), bad+":2:9: queue.max_deliver:") {
		t.Errorf("bad configuration: %v\n%s", err, out)
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
