package orthanctest

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mhpnet/node/internal/testdata"
)

// TestStartUploadRestart starts Orthanc, stores a file, stops it, and
// starts a second Orthanc on the same folder: the SQLite lock must be
// released (Stop waits for the exit) and the instance still be there.
func TestStartUploadRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := Start(t, Options{Dir: dir})
	var sys struct {
		Version    string
		ApiVersion int
	}
	getJSON(t, s.URL()+"/system", &sys)
	if sys.Version != "1.10.1" {
		t.Errorf("Orthanc version %q, want 1.10.1 (TOOLCHAIN.md §5)", sys.Version)
	}
	ct := filepath.Join(testdata.Shared(t, "data/dcmqi/ct-3slice"), "01.dcm")
	u, err := s.Upload(t.Context(), ct)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != "Success" || u.ID == "" {
		t.Fatalf("upload = %+v, want Status Success and an ID", u)
	}
	u2, err := s.Upload(t.Context(), ct)
	if err != nil || u2.Status != "AlreadyStored" || u2.ID != u.ID {
		t.Fatalf("second upload = %+v, %v; want AlreadyStored with ID %s", u2, err, u.ID)
	}
	// the DICOMweb plugin answers
	resp, err := http.Get(s.DICOMwebURL() + "/studies")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("QIDO /studies: %s", resp.Status)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := http.Get(s.URL() + "/system"); err == nil {
		t.Fatal("Orthanc still answers after Stop")
	}

	s2 := Start(t, Options{Dir: dir})
	var stats struct{ CountInstances int }
	getJSON(t, s2.URL()+"/statistics", &stats)
	if stats.CountInstances != 1 {
		t.Errorf("after restart on the same folder: %d instances, want 1", stats.CountInstances)
	}
}

func TestLaunchOwnDirRemoved(t *testing.T) {
	t.Parallel()
	s, err := Launch(t.Context(), Options{StableAge: 1, LuaScripts: []string{"function OnStableStudy(id, tags, meta) end\n"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := s.Dir()
	cfg, err := os.ReadFile(filepath.Join(dir, "orthanc.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	if c["StableAge"] != float64(1) || c["RemoteAccessAllowed"] != false || c["DicomServerEnabled"] != false {
		t.Errorf("config StableAge=%v RemoteAccessAllowed=%v DicomServerEnabled=%v", c["StableAge"], c["RemoteAccessAllowed"], c["DicomServerEnabled"])
	}
	if l, _ := c["LuaScripts"].([]any); len(l) != 1 {
		t.Errorf("LuaScripts = %v, want one file", c["LuaScripts"])
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left %s behind (%v)", dir, err)
	}
}

func TestMissingOrthanc(t *testing.T) {
	_, err := Launch(t.Context(), Options{Binary: filepath.Join(t.TempDir(), "Orthanc")})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if want := InstallCommand; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not give %q", err, want)
	}
	_, err = Launch(t.Context(), Options{DICOMwebPlugin: "/nonexistent/libOrthancDicomWeb.so"})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
}

// TestBadConfigFailsFast: a Lua syntax error makes Orthanc exit; Launch
// must report it with the log, not wait for the deadline.
func TestBadConfigFailsFast(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, err := Launch(t.Context(), Options{LuaScripts: []string{"this is not lua("}, StartTimeout: 20 * time.Second})
	if !errors.Is(err, ErrStart) {
		t.Fatalf("err = %v, want ErrStart", err)
	}
	if !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("error does not quote Orthanc's log: %v", err)
	}
	// it must notice the exit, not wait for the deadline
	if time.Since(start) > 15*time.Second {
		t.Errorf("took %s to notice Orthanc exited", time.Since(start))
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// An HttpPort given in ExtraConfig is where Orthanc listens, so it is the
// port the Server reports and waits on (e.g. to restart a PACS on the port
// its clients were configured with).
func TestExtraConfigHttpPort(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := Start(t, Options{ExtraConfig: map[string]any{"HttpPort": port}})
	if s.Port() != port || s.URL() != "http://127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("Port %d, URL %s; want port %d", s.Port(), s.URL(), port)
	}
	var sys struct{ Version string }
	getJSON(t, s.URL()+"/system", &sys)
	if sys.Version == "" {
		t.Fatal("GET /system on the configured port: no version")
	}
}
