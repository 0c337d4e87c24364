// Package archtest checks the project's import graph: data flows one way,
// dicomweb -> dicom -> volume -> segmentation -> dicom/seg -> dicomweb, driven
// by pipeline and wired by cmd/node (DESIGN.md §2, STYLE.md "What we take" 1).
package archtest

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

const module = "github.com/mhpnet/node"

// forbidden lists, for each package prefix, the node packages it must not
// import (directly or transitively).
var forbidden = []struct {
	pkg    string
	reason string
	banned []string
}{
	{"volume", "volume is the bottom of the flow", []string{"dicom", "dicomweb", "segmentation", "pipeline", "config", "cmd"}},
	{"dicomweb", "dicomweb moves bytes and imports no node package", []string{"dicom", "volume", "segmentation", "pipeline", "config", "cmd"}},
	{"dicom", "dicom reads files into volumes; it never calls the network or the model", []string{"dicomweb", "segmentation", "pipeline", "config", "cmd"}},
	{"segmentation", "segmentation knows nothing of DICOM or the PACS", []string{"dicom", "dicomweb", "pipeline", "config", "cmd"}},
	{"pipeline", "pipeline is driven by cmd, never the reverse", []string{"cmd"}},
	{"config", "config is read by cmd and pipeline", []string{"cmd", "integration"}},
}

func TestImportDirection(t *testing.T) {
	for _, rule := range forbidden {
		t.Run(rule.pkg, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./"+rule.pkg+"/...")
			cmd.Dir = testdata.RepoRoot()
			out, err := cmd.CombinedOutput()
			if err != nil {
				if strings.Contains(string(out), "matched no packages") {
					t.Skipf("no package under %s yet", rule.pkg)
				}
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				if !strings.HasPrefix(dep, module+"/") {
					continue
				}
				rel := strings.TrimPrefix(dep, module+"/")
				for _, b := range rule.banned {
					if rel == b || strings.HasPrefix(rel, b+"/") {
						t.Errorf("%s depends on %s: %s", rule.pkg, rel, rule.reason)
					}
				}
			}
		})
	}
}
