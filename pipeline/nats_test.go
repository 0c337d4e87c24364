package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestEmbeddedStoreLocked: two embedded servers on one JetStream store (two
// nodes given the same data_dir, or `node jobs` opening the store of a node
// running without a listener) would both write its files and corrupt the
// queue. The second is refused, naming the store, until the first closes.
func TestEmbeddedStoreLocked(t *testing.T) {
	dir := t.TempDir()
	first := startBus(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	second, err := ConnectNATS(ctx, NATSOptions{StoreDir: dir, Name: "second"})
	if err == nil {
		second.Close()
		t.Fatal("a second embedded server started on the store in use")
	}
	if !errors.Is(err, ErrNATSUnavailable) {
		t.Errorf("error %v, want ErrNATSUnavailable", err)
	}
	if want := "store " + dir + " is in use by another node"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}

	first.Close()
	third, err := ConnectNATS(ctx, NATSOptions{StoreDir: dir, Name: "third"})
	if err != nil {
		t.Fatalf("store not usable after the first node closed: %v", err)
	}
	third.Close()
	third.Close() // Close twice is harmless (t.Cleanup closes first again too)
}
