// Package orthanctest starts a real Orthanc PACS (Debian's orthanc and
// orthanc-dicomweb packages) for tests and for the demo: a free port, a
// temporary storage folder, a generated configuration, the DICOMweb
// plugin, and a clean stop.
//
// Orthanc 1.10 has no bind-address option: it listens on all interfaces.
// The generated configuration therefore keeps RemoteAccessAllowed false
// (Orthanc then answers only clients on the loopback interface) unless
// Options.AllowRemote is set; authentication is off, so never set
// AllowRemote on a machine reachable from an untrusted network.
//
// It installs nothing: a missing Orthanc fails with ErrNotInstalled and
// the apt-get command that installs it.
package orthanctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Default paths of Debian's packages.
const (
	DefaultBinary         = "/usr/sbin/Orthanc"
	DefaultDICOMwebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
	DefaultGDCMPlugin     = "/usr/share/orthanc/plugins/libOrthancGdcm.so"
	// InstallCommand installs what this package needs.
	InstallCommand = "apt-get install -y orthanc orthanc-dicomweb"
)

// ErrNotInstalled means the Orthanc binary or its DICOMweb plugin is
// missing; the error text gives InstallCommand.
var ErrNotInstalled = errors.New("orthanctest: Orthanc is not installed")

// ErrStart means Orthanc did not come up; the error holds the end of its
// log.
var ErrStart = errors.New("orthanctest: Orthanc did not start")

// Options configure Launch and Start. The zero value starts a plain
// Orthanc with DICOMweb on a free port in a temporary folder.
type Options struct {
	// Binary is the Orthanc executable; default: "Orthanc" on PATH, else
	// DefaultBinary.
	Binary string
	// DICOMwebPlugin is the plugin library; default DefaultDICOMwebPlugin.
	DICOMwebPlugin string
	// GDCM loads the GDCM plugin (server-side JPEG 2000 transcoding) when
	// its library (GDCMPlugin, default DefaultGDCMPlugin) exists;
	// Server.GDCM reports whether it was loaded. Orthanc 1.10 with
	// orthanc-gdcm 1.5 crashed on some J2K transcodings (TOOLCHAIN.md §5).
	GDCM       bool
	GDCMPlugin string
	// Dir holds the storage, index, configuration and log; default a new
	// temporary folder (t.TempDir in Start), removed by Stop when Launch
	// created it.
	Dir string
	// StableAge sets Orthanc's StableAge in seconds (0: Orthanc's default
	// of 60), the delay before OnStableStudy runs.
	StableAge int
	// LuaScripts are Lua sources (not paths), each written to a file in
	// Dir and listed in LuaScripts; e.g. an OnStableStudy that HttpPosts a
	// webhook.
	LuaScripts []string
	// AllowRemote sets RemoteAccessAllowed (answer clients on other
	// interfaces). Authentication stays off: only for isolated machines.
	AllowRemote bool
	// Verbose starts Orthanc with --verbose.
	Verbose bool
	// ExtraConfig entries are merged into the generated configuration
	// (they win over the generated ones). An int HttpPort here is the port
	// Orthanc listens on and Server.Port reports (e.g. to restart a PACS
	// on the port its clients know).
	ExtraConfig map[string]any
	// StartTimeout bounds the wait for GET /system (default 30 s).
	StartTimeout time.Duration
}

// Server is a running Orthanc.
type Server struct {
	cmd     *exec.Cmd
	port    int
	dir     string
	ownDir  bool
	logPath string
	gdcm    bool
	exited  chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
	http    *http.Client
}

// URL is the REST root, e.g. "http://127.0.0.1:34567".
func (s *Server) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// DICOMwebURL is the DICOMweb root, URL() + "/dicom-web".
func (s *Server) DICOMwebURL() string { return s.URL() + "/dicom-web" }

// Port is the HTTP port.
func (s *Server) Port() int { return s.port }

// Dir is the folder holding storage, configuration and log.
func (s *Server) Dir() string { return s.dir }

// LogPath is Orthanc's combined stdout and stderr.
func (s *Server) LogPath() string { return s.logPath }

// GDCM reports whether the GDCM plugin was loaded.
func (s *Server) GDCM() bool { return s.gdcm }

// Start launches an Orthanc for a test, stops it in t.Cleanup, and fails
// the test (with the install command, or the end of Orthanc's log) when
// it cannot.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Launch(t.Context(), opts)
	if err != nil {
		t.Fatalf("orthanctest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("orthanctest: stop: %v", err)
		}
	})
	return s
}

// Launch starts Orthanc and waits until GET /system answers. ctx bounds
// the start only; the server runs until Stop. It is the entry for code
// outside tests (the demo).
func Launch(ctx context.Context, opts Options) (*Server, error) {
	bin, err := findBinary(opts.Binary)
	if err != nil {
		return nil, err
	}
	plugin := opts.DICOMwebPlugin
	if plugin == "" {
		plugin = DefaultDICOMwebPlugin
	}
	if _, err := os.Stat(plugin); err != nil {
		return nil, fmt.Errorf("%w: DICOMweb plugin %s: %v; install it with: %s", ErrNotInstalled, plugin, err, InstallCommand)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	dir, own := opts.Dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "orthanctest-"); err != nil {
			return nil, fmt.Errorf("orthanctest: %w", err)
		}
		own = true
	}
	// A port found free can be taken before Orthanc binds it: try again
	// with another one when Orthanc exits at once.
	var lastErr error
	for try := 0; try < 3; try++ {
		s, err := launchOnce(ctx, bin, plugin, dir, own, opts)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil || !errors.Is(err, errPortTaken) {
			break
		}
	}
	if own {
		os.RemoveAll(dir)
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

func findBinary(b string) (string, error) {
	if b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("%w: %s: %v; install it with: %s", ErrNotInstalled, b, err, InstallCommand)
		}
		return b, nil
	}
	if p, err := exec.LookPath("Orthanc"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(DefaultBinary); err != nil {
		return "", fmt.Errorf("%w: no Orthanc on PATH nor at %s; install it with: %s", ErrNotInstalled, DefaultBinary, InstallCommand)
	}
	return DefaultBinary, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launchOnce(ctx context.Context, bin, plugin, dir string, own bool, opts Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("orthanctest: free port: %w", err)
	}
	// An HttpPort in ExtraConfig wins in Orthanc's configuration, so it is
	// where Orthanc listens: report and wait on that one.
	if p, ok := opts.ExtraConfig["HttpPort"].(int); ok && p > 0 {
		port = p
	}
	db := filepath.Join(dir, "db")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{db, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("orthanctest: %w", err)
		}
	}
	plugins := []string{plugin}
	s := &Server{port: port, dir: dir, ownDir: own, exited: make(chan struct{}), http: &http.Client{Timeout: 5 * time.Minute}}
	if opts.GDCM {
		g := opts.GDCMPlugin
		if g == "" {
			g = DefaultGDCMPlugin
		}
		if _, err := os.Stat(g); err == nil {
			plugins = append(plugins, g)
			s.gdcm = true
		}
	}
	var lua []string
	for i, src := range opts.LuaScripts {
		p := filepath.Join(dir, fmt.Sprintf("script%d.lua", i))
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			return nil, fmt.Errorf("orthanctest: %w", err)
		}
		lua = append(lua, p)
	}
	cfg := map[string]any{
		"Name":                  "orthanctest",
		"StorageDirectory":      db,
		"IndexDirectory":        db,
		"TemporaryDirectory":    tmp,
		"HttpPort":              port,
		"DicomServerEnabled":    false,
		"RemoteAccessAllowed":   opts.AllowRemote,
		"AuthenticationEnabled": false,
		"HttpDescribeErrors":    true,
		"SaveJobs":              false,
		"Plugins":               plugins,
		"DicomWeb":              map[string]any{"Enable": true, "Root": "/dicom-web/", "EnableWado": false, "Ssl": false},
	}
	if opts.StableAge > 0 {
		cfg["StableAge"] = opts.StableAge
	}
	if len(lua) > 0 {
		cfg["LuaScripts"] = lua
	}
	for k, v := range opts.ExtraConfig {
		cfg[k] = v
	}
	cfgJSON, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("orthanctest: config: %w", err)
	}
	cfgPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o644); err != nil {
		return nil, fmt.Errorf("orthanctest: %w", err)
	}
	s.logPath = filepath.Join(dir, "orthanc.log")
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("orthanctest: %w", err)
	}
	args := []string{}
	if opts.Verbose {
		args = append(args, "--verbose")
	}
	args = append(args, cfgPath)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	// Orthanc dies with the process that started it (a crashed test
	// binary must not leave a PACS behind).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrStart, bin, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, opts.StartTimeout); err != nil {
		_ = s.stop(false)
		return nil, err
	}
	return s, nil
}

// waitReady polls GET /system until it answers 200, Orthanc exits, or the
// deadline passes.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/system", nil)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			log := s.logTail()
			if bytes.Contains([]byte(log), []byte("bind")) || bytes.Contains([]byte(log), []byte("already in use")) {
				return fmt.Errorf("%w: %w: Orthanc exited (%v); log ends:\n%s", ErrStart, errPortTaken, s.waitErr, log)
			}
			return fmt.Errorf("%w: Orthanc exited (%v); log ends:\n%s", ErrStart, s.waitErr, log)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrStart, ctx.Err())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: GET /system did not answer within %s; log ends:\n%s", ErrStart, timeout, s.logTail())
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// Stop sends SIGTERM and waits for Orthanc to exit (it holds a SQLite lock
// on its folder until then; a new Orthanc on the same folder would fail),
// killing it after 15 s. It removes the folder Launch created. Calling it
// again does nothing.
func (s *Server) Stop() error { return s.stop(true) }

func (s *Server) stop(clean bool) error {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = fmt.Errorf("orthanctest: Orthanc did not exit within 15 s of SIGTERM; killed")
		}
		if clean && s.ownDir {
			if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
				s.stopErr = fmt.Errorf("orthanctest: %w", err)
			}
		}
	})
	return s.stopErr
}

// Uploaded is Orthanc's answer to POST /instances.
type Uploaded struct {
	ID            string // Orthanc's instance ID
	ParentSeries  string
	ParentStudy   string
	ParentPatient string
	Status        string // "Success" or "AlreadyStored"
}

// Upload stores one Part 10 file through Orthanc's REST API (POST
// /instances).
func (s *Server) Upload(ctx context.Context, path string) (Uploaded, error) {
	f, err := os.Open(path)
	if err != nil {
		return Uploaded{}, fmt.Errorf("orthanctest: upload: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Uploaded{}, fmt.Errorf("orthanctest: upload: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/instances", f)
	if err != nil {
		return Uploaded{}, fmt.Errorf("orthanctest: upload: %w", err)
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/dicom")
	resp, err := s.http.Do(req)
	if err != nil {
		return Uploaded{}, fmt.Errorf("orthanctest: upload %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return Uploaded{}, fmt.Errorf("orthanctest: upload %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	var u Uploaded
	if err := json.Unmarshal(body, &u); err != nil {
		return Uploaded{}, fmt.Errorf("orthanctest: upload %s: answer %q: %w", path, body, err)
	}
	return u, nil
}

// UploadDir stores every regular file of dir (not recursive), two at a
// time, in name order of start; it stops at the first failure.
func (s *Server) UploadDir(ctx context.Context, dir string) ([]Uploaded, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("orthanctest: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(paths)
	out := make([]Uploaded, len(paths))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				u, err := s.Upload(ctx, paths[i])
				if err != nil {
					cancel(err)
					continue
				}
				out[i] = u
			}
		}()
	}
	for i := range paths {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes a resource through the REST API, e.g. Delete(ctx,
// "studies", id) with an Orthanc ID from Uploaded.
func (s *Server) Delete(ctx context.Context, level, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.URL()+"/"+level+"/"+id, nil)
	if err != nil {
		return fmt.Errorf("orthanctest: %w", err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("orthanctest: delete %s/%s: %w", level, id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("orthanctest: delete %s/%s: %s: %s", level, id, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}
