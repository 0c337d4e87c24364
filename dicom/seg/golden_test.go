package seg

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// structure prints els one attribute a line, sequences indented, with
// every UID that is not a DICOM-defined one (1.2.840.10008.*) replaced by
// <UID>, so the golden file pins tags, VRs, values and order, not UIDs.
func structure(b *strings.Builder, els []*dcm.Element, indent string) {
	for _, e := range els {
		name := "?"
		if info, err := tag.Find(e.Tag); err == nil {
			name = info.Keyword
		}
		fmt.Fprintf(b, "%s(%04x,%04x) %s %s", indent, e.Tag.Group, e.Tag.Element, e.RawValueRepresentation, name)
		switch v := e.Value.GetValue().(type) {
		case []*dcm.SequenceItemValue:
			fmt.Fprintf(b, " [%d items]\n", len(v))
			for i, it := range v {
				fmt.Fprintf(b, "%s  item %d\n", indent, i+1)
				structure(b, it.GetValue().([]*dcm.Element), indent+"    ")
			}
			continue
		case []string:
			if e.RawValueRepresentation == "UI" {
				v = append([]string(nil), v...)
				for i, u := range v {
					if !strings.HasPrefix(u, "1.2.840.10008.") {
						v[i] = "<UID>"
					}
				}
			}
			fmt.Fprintf(b, " = %q", strings.Join(v, `\`))
		case dcm.PixelDataInfo:
			fmt.Fprintf(b, " = %d bytes sha256 %x", len(v.UnprocessedValueData), sha256.Sum256(v.UnprocessedValueData))
		default:
			fmt.Fprintf(b, " = %v", v)
		}
		b.WriteString("\n")
	}
}

func TestGoldenStructure(t *testing.T) {
	tests := []struct {
		name      string
		allSlices bool
	}{
		{"synthetic_23x38x5_three_segments", false},
		{"synthetic_23x38x5_three_segments_all_slices", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := synthSource(t, 23, 38, 5)
			path, _ := encodeFile(t, src, sphereLabels(t, src.Geometry, true), threeSegments(t), Options{AllSlices: tc.allSlices})
			ds, err := dcm.ParseFile(path, nil, dcm.SkipProcessingPixelDataValue())
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			structure(&b, ds.Elements, "")
			golden := filepath.Join("testdata", "golden", tc.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenStructure -update to create it)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("SEG structure changed (-golden +now); if intended, rerun with -update and review the diff:\n%s", d)
			}
		})
	}
}
