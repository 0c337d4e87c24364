package seg

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

// FuzzRead feeds Read mutated SEGs: it must return a SEG or an error that
// is ErrNotSegmentation, never panic, and the frames it returns must
// unpack without running past the pixel data.
func FuzzRead(f *testing.F) {
	src := synthSource(f, 23, 38, 3)
	var buf bytes.Buffer
	if _, err := Encode(context.Background(), &buf, src, sphereLabels(f, src.Geometry, true), threeSegments(f), Options{ModelVersion: "fuzz", ContentTime: fixedTime}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	if b, err := os.ReadFile(testdata.Shared(f, "data/seg-reference/dcmqi/23x38x3/label.seg")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sg, err := Read(context.Background(), bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrNotSegmentation) {
				t.Fatalf("error %v is not ErrNotSegmentation", err)
			}
			return
		}
		for i := range sg.Frames {
			if _, err := sg.Frame(i); err != nil {
				t.Fatal(err)
			}
		}
	})
}
