package dicomweb

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
)

// TestRetrieveStreams: a 96 MiB series (48 parts of 2 MiB, generated on
// the fly by the server) goes through RetrieveSeries while the client
// allocates a small fraction of it: the series is never held in memory.
func TestRetrieveStreams(t *testing.T) {
	const parts, size = 48, 2 << 20
	chunk := bytes.Repeat([]byte{0x30, 0xf8}, 32<<10) // 64 KiB
	srv, _ := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=S`)
		for i := 0; i < parts; i++ {
			fmt.Fprintf(w, "--S\r\nContent-Type: application/dicom\r\nContent-Length: %d\r\n\r\n", size)
			for j := 0; j < size/len(chunk); j++ {
				w.Write(chunk)
			}
			io.WriteString(w, "\r\n")
		}
		io.WriteString(w, "--S--\r\n")
	})
	c := newTestClient(t, srv.URL, Options{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var total int64
	res, err := c.RetrieveSeries(t.Context(), "1.2.3", "4.5.6", func(p *Part) error {
		n, err := io.Copy(io.Discard, p)
		total += n
		return err
	})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if res.Parts != parts || total != parts*size || res.Bytes != total {
		t.Fatalf("result %+v, %d bytes read", res, total)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB streamed, %.1f MiB allocated in all (server included)", total>>20, float64(alloc)/(1<<20))
	if alloc > uint64(total)/8 {
		t.Errorf("allocated %d bytes for a %d-byte series: the body is being buffered", alloc, total)
	}
}
