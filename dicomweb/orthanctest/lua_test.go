package orthanctest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/mhpnet/node/internal/testdata"
)

// TestLuaWebhook shows the knobs the pipeline's webhook intake needs:
// StableAge and a Lua OnStableStudy that posts the study to an HTTP
// endpoint (TOOLCHAIN.md §5 measured 3.2 s with StableAge 2).
func TestLuaWebhook(t *testing.T) {
	t.Parallel()
	got := make(chan map[string]string, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		io.WriteString(w, "ok")
		select {
		case got <- m:
		default:
		}
	}))
	defer hook.Close()
	lua := fmt.Sprintf(`
function OnStableStudy(studyId, tags, metadata)
  HttpPost('%s/hook', DumpJson({ID = studyId, StudyInstanceUID = tags['StudyInstanceUID']}, true),
           {['Content-Type'] = 'application/json'})
end
`, hook.URL)
	s := Start(t, Options{StableAge: 1, LuaScripts: []string{lua}})
	u, err := s.Upload(t.Context(), filepath.Join(testdata.Shared(t, "data/dcmqi/ct-3slice"), "01.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m["ID"] != u.ParentStudy || m["StudyInstanceUID"] != "1.2.392.200103.20080913.113635.0.2009.6.22.21.43.10.22941.1" {
			t.Errorf("webhook got %v, want study %s", m, u.ParentStudy)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no OnStableStudy webhook within 30 s; Orthanc log: %s", s.LogPath())
	}
}
