package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// deadPACSConfig writes a node.yaml whose PACS does not answer (port 1 on
// the loopback refuses connections), with an in-process NATS and a free
// HTTP port.
func deadPACSConfig(t *testing.T) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf(`node:
  data_dir: %s
http:
  listen: 127.0.0.1:0
pacs:
  url: http://127.0.0.1:1/dicom-web
  timeout: 5s
  max_retries: 0
nats:
  embedded:
    listen: ""
`, filepath.Join(t.TempDir(), "data")))
}

// TestServeStopDuringStartup: a SIGTERM that arrives while the node is still
// starting (here: before it starts) is a clean stop, exit 0, not "NATS
// unavailable" (exit 4) as it was when the cancelled context failed the
// NATS or JetStream set-up.
func TestServeStopDuringStartup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr syncBuffer
	err := runServe(ctx, &stdout, &stderr, commonFlags{config: deadPACSConfig(t), logFormat: "console"})
	if code := exitCode(err); code != ExitOK {
		t.Fatalf("exit code %d, want %d (error: %v)\nlog:\n%s", code, ExitOK, err, stderr.String())
	}
}

// TestServeWarnsUnreachablePACS: a PACS that does not answer at start-up
// (a typo in pacs.url, the PACS down) is logged as a warning naming the URL,
// and the node keeps running (/readyz reports it) until it is stopped.
func TestServeWarnsUnreachablePACS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, &stdout, &stderr, commonFlags{config: deadPACSConfig(t), logFormat: "console"})
	}()
	want := "PACS not reachable at start-up"
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("serve returned %v before warning; log:\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no %q in the log:\n%s", want, stderr.String())
		}
	}
	log := stderr.String()
	if !strings.Contains(log, "http://127.0.0.1:1/dicom-web") {
		t.Errorf("warning does not name the PACS URL:\n%s", log)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
}
