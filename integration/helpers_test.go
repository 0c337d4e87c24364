package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/dicomweb"
	"github.com/mhpnet/node/dicomweb/orthanctest"
	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/pipeline"
)

// built is the node binary and the tiny model shared by the tests of this
// package that run `node serve`: one `go build` and one training per
// `go test` run, in a folder removed by TestMain.
type built struct {
	once sync.Once
	dir  string
	bin  string
	tiny string
	err  error
}

// shared is written once (under its sync.Once) and only read afterwards.
var shared built

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedNode returns the node binary built from this checkout and a tiny
// model trained with it on IRCAD 1.1 (5 liver and 5 tumor steps, seed 1:
// about 15 s). The scenarios use the tiny model: they prove the plumbing
// (queue, retries, intake, PACS), not the accuracy, and their run time must
// not depend on the embedded model being improved meanwhile. It fails the
// test when either cannot be made.
func sharedNode(t *testing.T) (bin, tiny string) {
	t.Helper()
	ircad := testdata.CT(t, "ircadb/3Dircadb1.1")
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if shared.dir, shared.err = os.MkdirTemp("", "mhpnet-integration-"); shared.err != nil {
			return
		}
		here, err := os.Getwd()
		if err != nil {
			shared.err = err
			return
		}
		shared.bin = filepath.Join(shared.dir, "node")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", shared.bin, "./cmd/node")
		cmd.Dir = filepath.Dir(here)
		if out, err := cmd.CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("go build ./cmd/node: %w\n%s", err, out)
			return
		}
		shared.tiny = filepath.Join(shared.dir, "tiny.mhp")
		cmd = exec.CommandContext(ctx, shared.bin, "train", "--data", ircad, "--out", shared.tiny, "--liver-steps", "5", "--tumor-steps", "5")
		if out, err := cmd.CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("node train: %w\n%s", err, out)
		}
	})
	if shared.err != nil {
		t.Fatalf("the node binary or the tiny model could not be made: %v", shared.err)
	}
	return shared.bin, shared.tiny
}

// nodeConf is what varies between the node.yaml files of the scenarios.
type nodeConf struct {
	Name       string
	DataDir    string
	HTTPPort   int
	PACSURL    string
	MaxRetries int    // pacs.max_retries
	NATSListen string // embedded server's listen address (when NATSURL is empty)
	NATSURL    string // external NATS
	Model      string
	LogLevel   string // default info
	Queue      string // the queue section's flow mapping body
	Intake     string // the intake section (YAML block, indented 2)
	Routing    string // the routing section (YAML block, indented 2)
}

// write renders the configuration into dir/<name>.yaml and returns its path.
func (c nodeConf) write(t *testing.T, dir string) string {
	t.Helper()
	natsSec := fmt.Sprintf("nats: {embedded: {listen: %q}}", c.NATSListen)
	if c.NATSURL != "" {
		natsSec = fmt.Sprintf("nats: {url: %q}", c.NATSURL)
	}
	level := c.LogLevel
	if level == "" {
		level = "info"
	}
	model := ""
	if c.Model != "" {
		model = fmt.Sprintf("model: {path: %q}\n", c.Model)
	}
	y := fmt.Sprintf(`node: {name: %s, data_dir: %q, log_format: json, log_level: %s}
http: {listen: "127.0.0.1:%d", shutdown_timeout: 20s}
pacs: {name: orthanc, url: %q, max_retries: %d, timeout: 60s}
%s
%squeue: {%s}
intake:
%s
routing:
%s
`, c.Name, c.DataDir, level, c.HTTPPort, c.PACSURL, c.MaxRetries, natsSec, model, c.Queue, c.Intake, c.Routing)
	p := filepath.Join(dir, c.Name+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// natsURL is where the test reaches the node's NATS.
func (c nodeConf) natsURL() string {
	if c.NATSURL != "" {
		return c.NATSURL
	}
	return "nats://" + c.NATSListen
}

// serve starts `node serve` with cfg and waits until /readyz answers 200.
func serve(t *testing.T, bin, cfgPath string, httpPort int) *nodeProc {
	t.Helper()
	p := startNode(t, bin, nil, "serve", "--config", cfgPath)
	waitReady(t, p, httpPort)
	return p
}

func waitReady(t *testing.T, p *nodeProc, httpPort int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort)
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := http.Get(url)
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("node exited before it was ready: %v\n%s", err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready within 60 s:\n%s", p.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logEntry is one zap JSON line of the node's output.
type logEntry map[string]any

func (e logEntry) str(k string) string { s, _ := e[k].(string); return s }

// logEntries parses the JSON lines of a node's output (other lines, such as
// the effective configuration printed at start-up, are ignored).
func logEntries(out string) []logEntry {
	var es []logEntry
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e logEntry
		if json.Unmarshal([]byte(line), &e) == nil {
			es = append(es, e)
		}
	}
	return es
}

// findLogs returns the entries whose msg is msg and whose string fields
// hold the given values.
func findLogs(out, msg string, fields map[string]string) []logEntry {
	var es []logEntry
next:
	for _, e := range logEntries(out) {
		if e.str("msg") != msg {
			continue
		}
		for k, v := range fields {
			if e.str(k) != v {
				continue next
			}
		}
		es = append(es, e)
	}
	return es
}

// readResults reads every result event kept in the node's results stream
// (it survives node restarts and reconnects, unlike a core subscription).
func readResults(ctx context.Context, url string) ([]pipeline.Result, error) {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, pipeline.StreamResults)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []pipeline.Result
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var r pipeline.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return nil, fmt.Errorf("result %d: %w", seq, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func byOutcome(rs []pipeline.Result, outcome string) []pipeline.Result {
	var out []pipeline.Result
	for _, r := range rs {
		if r.Outcome == outcome {
			out = append(out, r)
		}
	}
	return out
}

// waitResults polls the results stream until cond holds and returns them.
func waitResults(ctx context.Context, t *testing.T, url string, within time.Duration, what string, cond func([]pipeline.Result) bool) []pipeline.Result {
	t.Helper()
	var rs []pipeline.Result
	var lastErr error
	deadline := time.Now().Add(within)
	for {
		var err error
		if rs, err = readResults(ctx, url); err == nil && cond(rs) {
			return rs
		} else if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; results %+v (last error %v)", within, what, rs, lastErr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// announce publishes a study event on the intake subject of the NATS at url.
func announce(t *testing.T, url, studyUID string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ev, err := json.Marshal(pipeline.StudyEvent{Source: "orthanc", StudyInstanceUID: studyUID})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(pipeline.SubjectStudyArrived, ev); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// uploadStudy stores files in Orthanc and returns the StudyInstanceUID of
// the (single) study they belong to.
func uploadStudy(ctx context.Context, t *testing.T, o *orthanctest.Server, files ...string) string {
	t.Helper()
	var id string
	for _, f := range files {
		u, err := o.Upload(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if id != "" && u.ParentStudy != id {
			t.Fatalf("%s is in another study than the files before it", f)
		}
		id = u.ParentStudy
	}
	return orthancStudyUID(ctx, t, o, id)
}

// uploadStudyDir is uploadStudy for every file of dir.
func uploadStudyDir(ctx context.Context, t *testing.T, o *orthanctest.Server, dir string, wantInstances int) string {
	t.Helper()
	up, err := o.UploadDir(ctx, dir)
	if err != nil || len(up) != wantInstances {
		t.Fatalf("upload of %s: %d instances (want %d), %v", dir, len(up), wantInstances, err)
	}
	return orthancStudyUID(ctx, t, o, up[0].ParentStudy)
}

func orthancStudyUID(ctx context.Context, t *testing.T, o *orthanctest.Server, id string) string {
	t.Helper()
	var st struct {
		MainDicomTags struct{ StudyInstanceUID string }
	}
	getJSONCtx(ctx, t, o.URL()+"/studies/"+id, &st)
	if st.MainDicomTags.StudyInstanceUID == "" {
		t.Fatalf("Orthanc study %s has no StudyInstanceUID", id)
	}
	return st.MainDicomTags.StudyInstanceUID
}

func getJSONCtx(ctx context.Context, t *testing.T, url string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// segSeries lists the SEG series of a study in the PACS.
func segSeries(ctx context.Context, t *testing.T, pacsURL, studyUID string) []dicomweb.Series {
	t.Helper()
	c, err := dicomweb.New(dicomweb.Options{BaseURL: pacsURL})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.SearchSeries(ctx, studyUID, dicomweb.Query{Match: map[string]string{"Modality": "SEG"}})
	if err != nil && !errors.Is(err, dicomweb.ErrNotFound) {
		t.Fatalf("QIDO SEG series of %s: %v", studyUID, err)
	}
	return s
}

// readSEG retrieves and parses a SEG series (one instance).
func readSEG(ctx context.Context, t *testing.T, pacsURL, studyUID, seriesUID string) *seg.Segmentation {
	t.Helper()
	c, err := dicomweb.New(dicomweb.Options{BaseURL: pacsURL})
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	n := 0
	if _, err := c.RetrieveSeries(ctx, studyUID, seriesUID, func(p *dicomweb.Part) error {
		n++
		_, err := raw.ReadFrom(p)
		return err
	}); err != nil || n != 1 {
		t.Fatalf("WADO-RS of SEG %s: %d parts, %v", seriesUID, n, err)
	}
	sg, err := seg.Read(ctx, bytes.NewReader(raw.Bytes()), int64(raw.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

// jobsList runs `node jobs list` with the node's configuration.
func jobsList(ctx context.Context, t *testing.T, bin, cfgPath string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, bin, "jobs", "list", "--config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("node jobs list: %v\n%s", err, out)
	}
	return string(out)
}

// newUID makes a UID under the 2.25 root (ITU-T X.667) from a random UUID.
func newUID() string {
	u := uuid.New()
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// copyAsNewStudy copies the files of src into dst under a new Study and
// Series Instance UID and new SOP Instance UIDs (dcmodify), so a real
// series can be stored again as another study. It returns the files.
func copyAsNewStudy(ctx context.Context, t *testing.T, src, dst string, skip ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	var files []string
	for _, e := range entries {
		if !e.Type().IsRegular() || skipped[e.Name()] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, e.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	args := append([]string{"-nb", "-m", "(0020,000d)=" + newUID(), "-m", "(0020,000e)=" + newUID(), "-gin"}, files...)
	if out, err := exec.CommandContext(ctx, "dcmodify", args...).CombinedOutput(); err != nil {
		t.Fatalf("dcmodify (dcmtk; apt-get install -y dcmtk): %v\n%s", err, out)
	}
	return files
}
