package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mhpnet/node/dicomweb"
	"github.com/mhpnet/node/dicomweb/orthanctest"
	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/pipeline"
)

// The scenarios of issue 6 ("Shown by"), each against the built node
// binary, a real Orthanc and real NATS. They share one binary and one
// model (sharedNode); each starts its own Orthanc (about a second) so no
// study of one scenario is seen by another.

// jobBound is how long one job on CRLM-CT-1004 (41 slices) may take on two
// shared cores, retries included.
const jobBound = 3 * time.Minute

// Routing rules used by the scenarios. contrastRules is what a site that
// only segments contrast CT writes; anyCTRules processes every CT series
// (IRCAD 1.1 has no ContrastBolusAgent).
const (
	contrastRules = `  rules:
    - {name: not-ct, action: skip, match: {modality: [MR, PT, US, CR, DX, MG, NM]}}
    - {name: ct-contrast, action: process, match: {modality: [CT], contrast_bolus_agent: present}}
    - {name: ct-without-contrast, action: skip, match: {modality: [CT], contrast_bolus_agent: absent}}`
	anyCTRules = `  rules:
    - {name: any-ct, action: process, match: {modality: [CT]}}`
	natsIntakeOnly = `  nats: {enabled: true}`
)

type scenario struct {
	ctx   context.Context
	bin   string
	model string
	tmp   string
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the node, starts Orthanc and NATS, runs the model")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	bin, model := sharedNode(t)
	return &scenario{ctx: ctx, bin: bin, model: model, tmp: t.TempDir()}
}

// conf is a node configuration with an embedded NATS on a free port.
func (s *scenario) conf(t *testing.T, name, pacsURL string) nodeConf {
	return nodeConf{
		Name: name, DataDir: filepath.Join(s.tmp, name+"-data"), HTTPPort: freePort(t), PACSURL: pacsURL,
		NATSListen: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Model: s.model, MaxRetries: 1,
		Queue:   "ack_wait: 5s, backoff: [1s, 2s], max_deliver: 4",
		Intake:  natsIntakeOnly,
		Routing: anyCTRules,
	}
}

// TestScenarioSkippedMRAndCTWithoutContrast: with rules that require
// contrast, an MR study and IRCAD 1.1 (CT, no ContrastBolusAgent) are both
// skipped: the reason (the rule and why it matched) is in the node's log and
// in the seg.results.skipped event, no job is queued and no SEG is stored.
func TestScenarioSkippedMRAndCTWithoutContrast(t *testing.T) {
	s := newScenario(t)
	o := orthanctest.Start(t, orthanctest.Options{})
	mr := uploadStudy(s.ctx, t, o, testdata.Shared(t, "data/dicom-bad/MR_small_padded.dcm"))
	ct := uploadStudyDir(s.ctx, t, o, testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM"), 129)

	c := s.conf(t, "skip", o.DICOMwebURL())
	c.Routing = contrastRules
	cfg := c.write(t, s.tmp)
	node := serve(t, s.bin, cfg, c.HTTPPort)
	announce(t, c.natsURL(), mr)
	announce(t, c.natsURL(), ct)

	rs := waitResults(s.ctx, t, c.natsURL(), 60*time.Second, "two skipped results", func(rs []pipeline.Result) bool {
		return len(byOutcome(rs, pipeline.OutcomeSkipped)) >= 2
	})
	want := map[string]struct{ rule, reason string }{
		mr: {"not-ct", `rule "not-ct" (#1) matched (Modality MR): skip`},
		ct: {"ct-without-contrast", `rule "ct-without-contrast" (#3) matched (Modality CT; ContrastBolusAgent absent): skip`},
	}
	if len(rs) != 2 {
		t.Errorf("%d results, want exactly 2 (both skipped): %+v", len(rs), rs)
	}
	for _, r := range rs {
		w, ok := want[r.StudyInstanceUID]
		if !ok || r.Outcome != pipeline.OutcomeSkipped || r.Rule != w.rule || r.Reason != w.reason || r.SeriesInstanceUID == "" {
			t.Errorf("result %+v, want skipped by %q with reason %q", r, w.rule, w.reason)
		}
		logs := findLogs(node.out.String(), "series skipped", map[string]string{"study_uid": r.StudyInstanceUID, "reason": w.reason, "rule": w.rule})
		if len(logs) != 1 {
			t.Errorf("study %s: %d 'series skipped' log lines with reason %q, want 1", r.StudyInstanceUID, len(logs), w.reason)
		}
		t.Logf("skipped: rule %s, reason %q", r.Rule, r.Reason)
	}
	if trace := findLogs(node.out.String(), "series skipped", map[string]string{"study_uid": ct}); len(trace) == 1 {
		// The trace says why the contrast rule did not match.
		if tr := fmt.Sprint(trace[0]["trace"]); !strings.Contains(tr, `rule "ct-contrast" (#2) did not match: ContrastBolusAgent absent, rule requires it present`) {
			t.Errorf("trace of the CT skip: %s", tr)
		}
	}
	for _, uid := range []string{mr, ct} {
		if n := len(segSeries(s.ctx, t, o.DICOMwebURL(), uid)); n != 0 {
			t.Errorf("study %s: %d SEG series, want 0", uid, n)
		}
	}
	if n := len(findLogs(node.out.String(), "job queued", nil)); n != 0 {
		t.Errorf("%d jobs queued, want 0", n)
	}
	if out := jobsList(s.ctx, t, s.bin, cfg); !strings.Contains(out, "0 queued (waiting, running or waiting to retry), 0 dead-lettered") {
		t.Errorf("node jobs list:\n%s", out)
	}
}

// TestScenarioKilledDuringJob: two studies are queued; the node is killed
// (SIGKILL) right after the first job starts. Started again on the same data
// dir, the interrupted job is redelivered (after ack_wait) and completes, and
// the one still waiting runs too: one SEG per study, two ok results, nothing
// queued or dead.
func TestScenarioKilledDuringJob(t *testing.T) {
	s := newScenario(t)
	o := orthanctest.Start(t, orthanctest.Options{})
	crlm := testdata.CT(t, "ct/crlm-ct-1004")
	studies := []string{
		uploadStudyDir(s.ctx, t, o, crlm, 41),
		uploadStudy(s.ctx, t, o, copyAsNewStudy(s.ctx, t, crlm, filepath.Join(s.tmp, "copy"))...),
	}
	c := s.conf(t, "kill", o.DICOMwebURL())
	cfg := c.write(t, s.tmp)

	first := serve(t, s.bin, cfg, c.HTTPPort)
	for _, st := range studies {
		announce(t, c.natsURL(), st)
	}
	var started []logEntry
	waitUntil(t, 60*time.Second, "job started", func() bool {
		started = findLogs(first.out.String(), "job started", nil)
		return len(started) > 0
	})
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if n := len(findLogs(first.out.String(), "job done", nil)); n != 0 {
		t.Fatalf("a job finished before SIGKILL (%d 'job done'); the kill did not interrupt it", n)
	}
	if rs, err := readResults(s.ctx, c.natsURL()); err == nil {
		t.Fatalf("NATS still answers after SIGKILL (%d results)", len(rs))
	}
	killed := started[0].str("study_uid")
	if n := len(findLogs(first.out.String(), "job queued", nil)); n != 2 {
		t.Fatalf("%d jobs queued before the kill, want 2", n)
	}
	killedAt := time.Now()

	second := serve(t, s.bin, cfg, c.HTTPPort)
	rs := waitResults(s.ctx, t, c.natsURL(), jobBound, "two ok results after the restart", func(rs []pipeline.Result) bool {
		return len(byOutcome(rs, pipeline.OutcomeOK)) >= 2
	})
	t.Logf("both jobs completed %.1f s after the kill", time.Since(killedAt).Seconds())
	if len(rs) != 2 || len(byOutcome(rs, pipeline.OutcomeOK)) != 2 {
		t.Errorf("results %+v; want exactly two ok", rs)
	}
	for _, r := range rs {
		if r.Instances != 41 {
			t.Errorf("result %+v: %d instances, want 41", r, r.Instances)
		}
		// The embedded server writes consumer state asynchronously, so a
		// SIGKILL may lose the record of the first delivery: the job is then
		// redelivered as attempt 1 rather than 2. Either way it must run
		// again and complete once.
		if r.StudyInstanceUID == killed && r.Attempt != 1 && r.Attempt != 2 {
			t.Errorf("the interrupted job ended on attempt %d, want 1 or 2", r.Attempt)
		}
		t.Logf("study %s: ok on attempt %d", r.StudyInstanceUID, r.Attempt)
	}
	again := findLogs(second.out.String(), "job started", map[string]string{"study_uid": killed})
	if len(again) != 1 || (again[0]["attempt"] != float64(1) && again[0]["attempt"] != float64(2)) {
		t.Errorf("after the restart the interrupted job started %v, want once (attempt 1 or 2)", again)
	}
	for _, st := range studies {
		var want []string
		for _, r := range rs {
			if r.StudyInstanceUID == st && r.SEG != nil {
				want = append(want, r.SEG.SeriesInstanceUID)
			}
		}
		segs := segSeries(s.ctx, t, o.DICOMwebURL(), st)
		if len(segs) != 1 || len(want) != 1 || segs[0].SeriesInstanceUID != want[0] {
			t.Errorf("study %s: SEG series %+v, want exactly the one of its result %v", st, segs, want)
		}
	}
	if out := jobsList(s.ctx, t, s.bin, cfg); !strings.Contains(out, "0 queued (waiting, running or waiting to retry), 0 dead-lettered") {
		t.Errorf("node jobs list after the jobs:\n%s", out)
	}
}

// TestScenarioOrthancDownDuringSTOW: Orthanc is stopped once the series is
// fetched, so the STOW-RS of the SEG fails; the job is retried with the
// queue's back-off, and once Orthanc is back (same storage, same port) it
// succeeds: one SEG, one ok result on a later attempt.
func TestScenarioOrthancDownDuringSTOW(t *testing.T) {
	s := newScenario(t)
	dir := t.TempDir()
	o := orthanctest.Start(t, orthanctest.Options{Dir: dir})
	study := uploadStudyDir(s.ctx, t, o, testdata.CT(t, "ct/crlm-ct-1004"), 41)
	c := s.conf(t, "stow", o.DICOMwebURL())
	c.LogLevel = "debug"
	c.MaxRetries = 0
	c.Queue = "ack_wait: 5s, backoff: [1s, 2s, 3s], max_deliver: 8"
	cfg := c.write(t, s.tmp)
	node := serve(t, s.bin, cfg, c.HTTPPort)
	announce(t, c.natsURL(), study)

	waitUntil(t, 60*time.Second, "the fetch stage done", func() bool {
		return len(findLogs(node.out.String(), "stage done", map[string]string{"stage": "fetch"})) > 0
	})
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	if n := len(findLogs(node.out.String(), "stage done", map[string]string{"stage": "store"})); n != 0 {
		t.Fatal("the SEG was stored before Orthanc stopped; the scenario did not happen")
	}
	waitUntil(t, jobBound, "a failed STOW-RS", func() bool {
		for _, e := range findLogs(node.out.String(), "job failed; will retry", nil) {
			if strings.HasPrefix(e.str("error"), "store: STOW-RS of SEG ") {
				return true
			}
		}
		return false
	})
	// Leave Orthanc down for at least one more retry, then bring it back.
	waitUntil(t, 30*time.Second, "a second failed attempt", func() bool {
		return len(findLogs(node.out.String(), "job failed; will retry", nil)) >= 2
	})
	downFor := time.Since(stoppedAt)
	o2 := orthanctest.Start(t, orthanctest.Options{Dir: dir, ExtraConfig: map[string]any{"HttpPort": o.Port()}})
	rs := waitResults(s.ctx, t, c.natsURL(), jobBound, "the ok result once Orthanc is back", func(rs []pipeline.Result) bool {
		return len(byOutcome(rs, pipeline.OutcomeOK)) > 0
	})
	failed := findLogs(node.out.String(), "job failed; will retry", nil)
	var delays []string
	for _, e := range failed {
		delays = append(delays, fmt.Sprintf("attempt %v: retry in %v (%.60s)", e["attempt"], e["retry_in"], e.str("error")))
	}
	t.Logf("Orthanc down %.1f s; failed attempts: %s", downFor.Seconds(), strings.Join(delays, "; "))
	t.Logf("first failure: %s", failed[0].str("error"))
	ok := byOutcome(rs, pipeline.OutcomeOK)
	if len(rs) != 1 || len(ok) != 1 || ok[0].Attempt != len(failed)+1 || ok[0].Attempt < 3 {
		t.Errorf("results %+v; want one ok after the %d failed attempts", rs, len(failed))
	}
	// The back-off grows: 1 s, 2 s, 3 s, ...
	for i, e := range failed {
		want := []string{"1s", "2s", "3s"}[min(i, 2)]
		if e.str("retry_in") != want {
			t.Errorf("failed attempt %d: retry_in %v, want %s", i+1, e["retry_in"], want)
		}
	}
	segs := segSeries(s.ctx, t, o2.DICOMwebURL(), study)
	if len(segs) != 1 || segs[0].SeriesInstanceUID != ok[0].SEG.SeriesInstanceUID {
		t.Errorf("SEG series after Orthanc came back: %+v, want exactly the one of the result", segs)
	}
}

// TestScenarioDeadLettered: IRCAD 1.1 without its middle slice, and the
// cornerstone CT slice in JPEG 2000 relabelled as JPEG 2000 Part 2
// multi-component (1.2.840.10008.1.2.4.92: Orthanc without GDCM cannot
// transcode it, the node has no decoder for it), are dead-lettered with a
// reason a person can act on, shown by `node jobs list`. (The cornerstone
// file in JPEG process 10/12, .4.55, is no such case: Orthanc's DCMTK
// transcodes it and the node segments it.)
func TestScenarioDeadLettered(t *testing.T) {
	s := newScenario(t)
	o := orthanctest.Start(t, orthanctest.Options{})
	src := testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM")
	gappy := copyAsNewStudy(s.ctx, t, src, filepath.Join(s.tmp, "gappy"), "image_64")
	if len(gappy) != 128 {
		t.Fatalf("%d files without image_64, want 128", len(gappy))
	}
	gapStudy := uploadStudy(s.ctx, t, o, gappy...)
	part2 := relabelTransferSyntax(t, testdata.Shared(t, "data/dicom-codecs/cornerstone-ct/CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm"),
		filepath.Join(s.tmp, "part2.dcm"), "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.92")
	j2k := uploadStudy(s.ctx, t, o, part2)

	c := s.conf(t, "dead", o.DICOMwebURL())
	cfg := c.write(t, s.tmp)
	node := serve(t, s.bin, cfg, c.HTTPPort)
	announce(t, c.natsURL(), gapStudy)
	announce(t, c.natsURL(), j2k)
	rs := waitResults(s.ctx, t, c.natsURL(), 2*time.Minute, "two failed results", func(rs []pipeline.Result) bool {
		return len(byOutcome(rs, pipeline.OutcomeFailed)) >= 2
	})
	if len(rs) != 2 {
		t.Errorf("results %+v, want exactly two (failed)", rs)
	}
	want := map[string][]string{
		gapStudy: {"missing slices: gap of 3.2 mm (about 1 slice(s) of 1.6 mm) after slice 63", "resend the complete series"},
		j2k:      {"unsupported transfer syntax 1.2.840.10008.1.2.4.92 (JPEG 2000 Part 2", "ask the PACS to send Explicit VR Little Endian"},
	}
	out := jobsList(s.ctx, t, s.bin, cfg)
	t.Logf("node jobs list:\n%s", out)
	for _, r := range rs {
		for _, w := range want[r.StudyInstanceUID] {
			if !strings.Contains(r.Reason, w) {
				t.Errorf("failed result for %s: reason %q does not say %q", r.StudyInstanceUID, r.Reason, w)
			}
		}
		if r.Stage != pipeline.StageFetch {
			t.Errorf("failed result for %s: stage %q, want fetch", r.StudyInstanceUID, r.Stage)
		}
		t.Logf("dead-lettered after %d attempt(s) at stage %s: %s", r.Attempt, r.Stage, r.Reason)
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "dead") && strings.Contains(l, r.JobID) {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, r.StudyInstanceUID) {
			t.Errorf("node jobs list has no dead line for job %s of study %s", r.JobID, r.StudyInstanceUID)
		}
		// The list must show what to act on, not only which series failed.
		for _, w := range want[r.StudyInstanceUID] {
			if !strings.Contains(line, w) {
				t.Errorf("node jobs list: the dead line of job %s does not say %q:\n%s", r.JobID, w, line)
			}
		}
		if n := len(segSeries(s.ctx, t, o.DICOMwebURL(), r.StudyInstanceUID)); n != 0 {
			t.Errorf("study %s: %d SEG series, want 0", r.StudyInstanceUID, n)
		}
	}
	if !strings.Contains(out, "0 queued (waiting, running or waiting to retry), 2 dead-lettered") {
		t.Errorf("node jobs list does not count 2 dead-lettered jobs:\n%s", out)
	}
	if n := len(findLogs(node.out.String(), "job dead-lettered", nil)); n != 2 {
		t.Errorf("%d 'job dead-lettered' log lines, want 2", n)
	}
}

// startNATS starts an external NATS server with JetStream in a temporary
// folder on a free port.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("external NATS not ready within 10 s")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// TestScenarioTwoNodesOneNATS: two nodes on one external NATS share the
// work: three studies announced, each segmented exactly once (three ok
// results, one SEG per study, three 'job done' lines over both nodes).
func TestScenarioTwoNodesOneNATS(t *testing.T) {
	s := newScenario(t)
	o := orthanctest.Start(t, orthanctest.Options{})
	url := startNATS(t)
	crlm := testdata.CT(t, "ct/crlm-ct-1004")
	studies := []string{uploadStudyDir(s.ctx, t, o, crlm, 41)}
	for i := 0; i < 2; i++ {
		files := copyAsNewStudy(s.ctx, t, crlm, filepath.Join(s.tmp, fmt.Sprintf("copy%d", i)))
		studies = append(studies, uploadStudy(s.ctx, t, o, files...))
	}
	var nodes []*nodeProc
	var cfg string
	for _, name := range []string{"node-a", "node-b"} {
		c := s.conf(t, name, o.DICOMwebURL())
		c.NATSURL = url
		cfg = c.write(t, s.tmp)
		nodes = append(nodes, serve(t, s.bin, cfg, c.HTTPPort))
	}
	for _, st := range studies {
		announce(t, url, st)
	}
	rs := waitResults(s.ctx, t, url, 2*jobBound, "three ok results", func(rs []pipeline.Result) bool {
		return len(byOutcome(rs, pipeline.OutcomeOK)) >= 3
	})
	perNode := map[string]int{}
	for _, r := range rs {
		perNode[r.Node]++
	}
	t.Logf("ok results per node: %v", perNode)
	if len(rs) != 3 || len(byOutcome(rs, pipeline.OutcomeOK)) != 3 {
		t.Errorf("results %+v, want exactly three ok", rs)
	}
	for _, st := range studies {
		segs := segSeries(s.ctx, t, o.DICOMwebURL(), st)
		if len(segs) != 1 {
			t.Errorf("study %s: %d SEG series, want 1", st, len(segs))
		}
	}
	done, started := 0, 0
	for _, n := range nodes {
		done += len(findLogs(n.out.String(), "job done", nil))
		started += len(findLogs(n.out.String(), "job started", nil))
	}
	if done != 3 || started != 3 {
		t.Errorf("over both nodes: %d 'job started', %d 'job done'; want 3 and 3", started, done)
	}
	if out := jobsList(s.ctx, t, s.bin, cfg); !strings.Contains(out, "0 queued (waiting, running or waiting to retry), 0 dead-lettered") {
		t.Errorf("node jobs list:\n%s", out)
	}
}

// TestScenarioThreeAnnouncements: one study announced by Orthanc's Lua
// webhook, by the QIDO poller and on NATS gives exactly one SEG and one ok
// result; the other announcements are dropped as duplicates.
func TestScenarioThreeAnnouncements(t *testing.T) {
	s := newScenario(t)
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	lua, err := os.ReadFile(filepath.Join(filepath.Dir(here), "deploy", "orthanc", "mhpnet-webhook.lua"))
	if err != nil {
		t.Fatal(err)
	}
	const token = "scenario-token-0123456789abcdef"
	httpPort := freePort(t)
	t.Setenv("MHPNET_WEBHOOK_URL", fmt.Sprintf("http://127.0.0.1:%d/v1/events/study", httpPort))
	t.Setenv("MHPNET_WEBHOOK_TOKEN", token)
	o := orthanctest.Start(t, orthanctest.Options{StableAge: 2, LuaScripts: []string{string(lua)}})

	c := s.conf(t, "three", o.DICOMwebURL())
	c.HTTPPort = httpPort
	c.Routing = contrastRules
	c.Intake = `  nats: {enabled: true}
  webhook: {enabled: true, token: {env: HOOK_TOKEN}}
  poller: {enabled: true, interval: 1s, quiet_period: 2s}`
	cfg := c.write(t, s.tmp)
	node := startNode(t, s.bin, []string{"HOOK_TOKEN=" + token}, "serve", "--config", cfg)
	waitReady(t, node, c.HTTPPort)

	study := uploadStudyDir(s.ctx, t, o, testdata.CT(t, "ct/crlm-ct-1004"), 41)
	announce(t, c.natsURL(), study)
	routed := func() map[string]int {
		m := map[string]int{}
		for _, e := range findLogs(node.out.String(), "study routed", map[string]string{"study_uid": study}) {
			m[e.str("intake")]++
		}
		return m
	}
	waitUntil(t, 60*time.Second, "the study routed from nats, webhook and poller", func() bool {
		r := routed()
		return r["nats"] > 0 && r["webhook"] > 0 && r["poller"] > 0
	})
	rs := waitResults(s.ctx, t, c.natsURL(), jobBound, "the ok result", func(rs []pipeline.Result) bool {
		return len(byOutcome(rs, pipeline.OutcomeOK)) > 0
	})
	t.Logf("routed per intake: %v", routed())
	out := node.out.String() // one snapshot for every count below
	queued := findLogs(out, "job queued", nil)
	dups := findLogs(out, "series already queued or done recently; duplicate dropped", nil)
	// Orthanc's OnStableStudy fires again once the node's SEG has made the
	// study change, so the webhook may announce it twice: every routing of
	// the CT series after the first must be a dropped duplicate.
	total := len(findLogs(out, "study routed", map[string]string{"study_uid": study}))
	if len(queued) != 1 || len(dups) != total-1 {
		t.Errorf("%d jobs queued and %d duplicates dropped over %d routings; want 1 and %d", len(queued), len(dups), total, total-1)
	}
	// Exactly one ok. When an announcement arrives after the SEG was stored
	// (the webhook fires on the study's stability, which the SEG itself
	// renews), the study then also holds the node's SEG series, which the
	// rules skip: such a skipped result may appear, never a second job.
	segs := segSeries(s.ctx, t, o.DICOMwebURL(), study)
	oks := byOutcome(rs, pipeline.OutcomeOK)
	if len(oks) != 1 {
		t.Errorf("results %+v, want exactly one ok", rs)
	}
	for _, r := range rs {
		isSEG := slices.ContainsFunc(segs, func(se dicomweb.Series) bool { return se.SeriesInstanceUID == r.SeriesInstanceUID })
		if r.Outcome != pipeline.OutcomeOK && (r.Outcome != pipeline.OutcomeSkipped || !isSEG) {
			t.Errorf("unexpected result %+v: only the node's own SEG series may be skipped", r)
		}
	}
	if len(segs) != 1 {
		t.Errorf("%d SEG series, want 1", len(segs))
	}
}

// TestScenarioCompressedStudy: CRLM-CT-1004 re-encoded in JPEG lossless
// (process 14, SV1; dcmcjpeg) under new UIDs and stored so in Orthanc (which
// cannot transcode it without GDCM) is segmented by the node, decoding
// locally; the SEG references exactly the compressed study's instances, and
// the measurements equal those of the uncompressed original processed by the
// same node (lossless decoding gives the same HU, so the same labels).
func TestScenarioCompressedStudy(t *testing.T) {
	s := newScenario(t)
	o := orthanctest.Start(t, orthanctest.Options{})
	files := copyAsNewStudy(s.ctx, t, testdata.CT(t, "ct/crlm-ct-1004"), filepath.Join(s.tmp, "jpeg"))
	for _, f := range files {
		if out, err := exec.CommandContext(s.ctx, "dcmcjpeg", f, f).CombinedOutput(); err != nil {
			t.Fatalf("dcmcjpeg: %v\n%s", err, out)
		}
	}
	var sops []string
	var seriesUID string
	for _, f := range files {
		u, err := o.Upload(s.ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			MainDicomTags struct{ SOPInstanceUID string }
		}
		getJSONCtx(s.ctx, t, o.URL()+"/instances/"+u.ID, &meta)
		sops = append(sops, meta.MainDicomTags.SOPInstanceUID)
		if ts := orthancTransferSyntax(s.ctx, t, o, u.ID); ts != "1.2.840.10008.1.2.4.70" {
			t.Fatalf("%s stored with transfer syntax %q, want JPEG lossless 1.2.840.10008.1.2.4.70", f, ts)
		}
		if seriesUID == "" {
			var se struct {
				MainDicomTags struct{ SeriesInstanceUID string }
			}
			getJSONCtx(s.ctx, t, o.URL()+"/series/"+u.ParentSeries, &se)
			seriesUID = se.MainDicomTags.SeriesInstanceUID
		}
	}
	study := uploadStudy(s.ctx, t, o, files[0])
	// The uncompressed original too: the same pixels must give the same
	// measurements.
	orig := uploadStudyDir(s.ctx, t, o, testdata.CT(t, "ct/crlm-ct-1004"), 41)

	c := s.conf(t, "jpeg", o.DICOMwebURL())
	cfg := c.write(t, s.tmp)
	serve(t, s.bin, cfg, c.HTTPPort)
	announce(t, c.natsURL(), study)
	announce(t, c.natsURL(), orig)
	rs := waitResults(s.ctx, t, c.natsURL(), jobBound, "two ok results", func(rs []pipeline.Result) bool {
		return len(rs) >= 2
	})
	if len(rs) != 2 || len(byOutcome(rs, pipeline.OutcomeOK)) != 2 {
		t.Fatalf("results %+v, want two ok", rs)
	}
	r, ro := rs[0], rs[1]
	if r.StudyInstanceUID != study {
		r, ro = ro, r
	}
	t.Logf("original: liver %.1f mL, %d tumors; compressed: liver %.1f mL, %d tumors",
		ro.Measurements.LiverVolumeML, len(ro.Measurements.Tumors), r.Measurements.LiverVolumeML, len(r.Measurements.Tumors))
	if r.Measurements.LiverVolumeML != ro.Measurements.LiverVolumeML || len(r.Measurements.Tumors) != len(ro.Measurements.Tumors) {
		t.Errorf("the compressed copy and the original differ: liver %.1f vs %.1f mL, %d vs %d tumors",
			r.Measurements.LiverVolumeML, ro.Measurements.LiverVolumeML, len(r.Measurements.Tumors), len(ro.Measurements.Tumors))
	}
	segs := segSeries(s.ctx, t, o.DICOMwebURL(), study)
	if len(segs) != 1 || segs[0].SeriesInstanceUID != r.SEG.SeriesInstanceUID {
		t.Fatalf("SEG series %+v, want the one of the result %+v", segs, r.SEG)
	}
	sg := readSEG(s.ctx, t, o.DICOMwebURL(), study, r.SEG.SeriesInstanceUID)
	got := slices.Clone(sg.ReferencedInstances)
	slices.Sort(got)
	slices.Sort(sops)
	if sg.ReferencedSeriesInstanceUID != seriesUID || !slices.Equal(got, sops) {
		t.Errorf("SEG references series %s with %d instances; want the compressed series %s with its %d instances",
			sg.ReferencedSeriesInstanceUID, len(got), seriesUID, len(sops))
	}
	t.Logf("compressed study segmented: liver %.0f mL, %d tumors, %d referenced instances, timings %v",
		r.Measurements.LiverVolumeML, len(r.Measurements.Tumors), len(got), r.Timings)
}

// orthancTransferSyntax is the transfer syntax Orthanc stored an instance in.
func orthancTransferSyntax(ctx context.Context, t *testing.T, o *orthanctest.Server, id string) string {
	t.Helper()
	var md map[string]string
	getJSONCtx(ctx, t, o.URL()+"/instances/"+id+"/metadata?expand", &md)
	return md["TransferSyntax"]
}

// relabelTransferSyntax copies src to dst with the TransferSyntaxUID of its
// file meta information changed from one UID to another of the same length
// (so no group length changes).
func relabelTransferSyntax(t *testing.T, src, dst, from, to string) string {
	t.Helper()
	if len(from) != len(to) {
		t.Fatalf("UIDs of different lengths: %s, %s", from, to)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// The meta group follows the 128-byte preamble and "DICM"; the first
	// occurrence there is (0002,0010).
	i := bytes.Index(b[132:min(len(b), 1024)], []byte(from))
	if i < 0 {
		t.Fatalf("%s: transfer syntax %s not in the file meta information", src, from)
	}
	copy(b[132+i:], to)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
