package dicomweb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fastRetry keeps retry tests quick without changing what they prove.
var fastRetry = Retry{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

func newTestClient(t *testing.T, url string, o Options) *Client {
	t.Helper()
	o.BaseURL = url
	if o.Retry == (Retry{}) {
		o.Retry = fastRetry
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// multipartBody builds an RFC 2046 body of the given parts.
func multipartBody(boundary string, parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: application/dicom\r\nContent-Length: %d\r\n\r\n%s\r\n", boundary, len(p), p)
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.String()
}

const testSeries = "/studies/1.2.3/series/4.5.6"

func collect(t *testing.T, c *Client) (RetrieveResult, []string, error) {
	t.Helper()
	var got []string
	res, err := c.RetrieveSeries(t.Context(), "1.2.3", "4.5.6", func(p *Part) error {
		b, err := io.ReadAll(p)
		if err != nil {
			return err
		}
		got = append(got, string(b))
		return nil
	})
	return res, got, err
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string
	}{
		{"no base URL", Options{}, "BaseURL"},
		{"bad scheme", Options{BaseURL: "ftp://x/dicom-web"}, "BaseURL"},
		{"no host", Options{BaseURL: "http:///dicom-web"}, "BaseURL"},
		{"user info", Options{BaseURL: "http://u:p@x/dicom-web"}, "BaseURL"},
		{"query", Options{BaseURL: "http://x/dicom-web?a=b"}, "BaseURL"},
		{"basic and bearer", Options{BaseURL: "http://x", Auth: Auth{Username: "u", BearerToken: "t"}}, "Auth"},
		{"two bearers", Options{BaseURL: "http://x", Auth: Auth{BearerToken: "t", BearerTokenEnv: "E"}}, "Auth"},
		{"password only", Options{BaseURL: "http://x", Auth: Auth{Password: "p"}}, "Auth.Username"},
		{"header override", Options{BaseURL: "http://x", Headers: http.Header{"Authorization": {"x"}}}, "Headers"},
		{"cert without key", Options{BaseURL: "https://x", TLS: TLS{CertFile: "c.pem"}}, "TLS"},
		{"missing CA file", Options{BaseURL: "https://x", TLS: TLS{CAFile: "/nonexistent.pem"}}, "TLS.CAFile"},
		{"TLS and transport", Options{BaseURL: "https://x", TLS: TLS{CAFile: "a"}, Transport: http.DefaultTransport}, "TLS"},
		{"negative timeout", Options{BaseURL: "http://x", Timeout: -1}, "Timeout"},
		{"negative retries", Options{BaseURL: "http://x", Retry: Retry{MaxAttempts: -1}}, "Retry"},
		{"user agent newline", Options{BaseURL: "http://x", UserAgent: "a\r\nb"}, "UserAgent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions", err)
			}
			var oe *OptionsError
			if !errors.As(err, &oe) || oe.Field != tc.field {
				t.Errorf("field = %v, want %s", err, tc.field)
			}
		})
	}
	c, err := New(Options{BaseURL: "http://127.0.0.1:8042/dicom-web/"})
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if o.UserAgent != DefaultUserAgent || o.Timeout != DefaultTimeout || o.Retry.MaxAttempts != DefaultMaxAttempts || o.MaxJSONBytes != DefaultMaxJSONBytes {
		t.Errorf("defaults not applied: %+v", o)
	}
	if c.BaseURL() != "http://127.0.0.1:8042/dicom-web" {
		t.Errorf("BaseURL = %q (trailing slash must go)", c.BaseURL())
	}
}

// TestHeadersAndAuth checks what reaches the server for each auth mode.
func TestHeadersAndAuth(t *testing.T) {
	var mu sync.Mutex
	var last http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Content-Type", "application/dicom+json")
		io.WriteString(w, "[]")
	}))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MHPNET_TEST_TOKEN", "env-token")

	tests := []struct {
		name string
		auth Auth
		want string
	}{
		{"none", Auth{}, ""},
		{"basic", Auth{Username: "orthanc", Password: "s3cret"}, "Basic b3J0aGFuYzpzM2NyZXQ="},
		{"bearer", Auth{BearerToken: "lit"}, "Bearer lit"},
		{"bearer env", Auth{BearerTokenEnv: "MHPNET_TEST_TOKEN"}, "Bearer env-token"},
		{"bearer file", Auth{BearerTokenFile: tokenFile}, "Bearer first-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, srv.URL+"/dicom-web", Options{Auth: tc.auth, UserAgent: "mhpnet-node/1.2.3",
				Headers: http.Header{"X-Tenant": {"radiology"}}})
			if _, err := c.SearchStudies(t.Context(), Query{}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := last.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
			if got := last.Get("User-Agent"); got != "mhpnet-node/1.2.3" {
				t.Errorf("User-Agent = %q", got)
			}
			if got := last.Get("X-Tenant"); got != "radiology" {
				t.Errorf("X-Tenant = %q", got)
			}
			if got := last.Get("Accept"); got != "application/dicom+json" {
				t.Errorf("Accept = %q", got)
			}
		})
	}

	// a rotated token file is read again
	c := newTestClient(t, srv.URL, Options{Auth: Auth{BearerTokenFile: tokenFile}})
	if _, err := c.SearchStudies(t.Context(), Query{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("second-token-longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SearchStudies(t.Context(), Query{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if got := last.Get("Authorization"); got != "Bearer second-token-longer" {
		t.Errorf("after rotation Authorization = %q", got)
	}
	mu.Unlock()
	// an emptied variable is an actionable error, not an anonymous request
	t.Setenv("MHPNET_TEST_TOKEN", "")
	c = newTestClient(t, srv.URL, Options{Auth: Auth{BearerTokenEnv: "MHPNET_TEST_TOKEN"}})
	if _, err := c.SearchStudies(t.Context(), Query{}); !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), "MHPNET_TEST_TOKEN") {
		t.Errorf("empty token variable: %v", err)
	}
}

// countingServer answers with h and counts requests.
func countingServer(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(int(n.Add(1)), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int // answer of request i; past the end: 200
		wantErr   error
		wantCalls int32
	}{
		{"401 not retried", []int{401}, ErrUnauthorized, 1},
		{"403 not retried", []int{403}, ErrUnauthorized, 1},
		{"404 not retried", []int{404}, ErrNotFound, 1},
		{"400 not retried", []int{400}, ErrHTTP, 1},
		{"503 then ok", []int{503}, nil, 2},
		{"502 502 then ok", []int{502, 502}, nil, 3},
		{"408 then ok", []int{408}, nil, 2},
		{"429 then ok", []int{429}, nil, 2},
		{"500 always", []int{500, 500, 500, 500}, ErrServer, 3},
		{"429 always", []int{429, 429, 429}, ErrRateLimited, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n <= len(tc.statuses) {
					w.WriteHeader(tc.statuses[n-1])
					io.WriteString(w, `{"Message":"from the test server"}`)
					return
				}
				io.WriteString(w, `[{"0020000D":{"vr":"UI","Value":["1.2.3"]}}]`)
			})
			c := newTestClient(t, srv.URL, Options{})
			st, err := c.SearchStudies(t.Context(), Query{})
			if calls.Load() != tc.wantCalls {
				t.Errorf("%d requests, want %d", calls.Load(), tc.wantCalls)
			}
			if tc.wantErr == nil {
				if err != nil || len(st) != 1 || st[0].StudyInstanceUID != "1.2.3" {
					t.Fatalf("= %v, %v", st, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var he *HTTPError
			if !errors.As(err, &he) || he.Message != "from the test server" || he.Attempts != int(tc.wantCalls) {
				t.Errorf("HTTPError = %+v", he)
			}
		})
	}
}

// TestRetryAfter: a 429 with Retry-After: 1 is retried no sooner than one
// second later; a Retry-After beyond MaxRetryAfter ends at once.
func TestRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	srv, _ := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "[]")
	})
	c := newTestClient(t, srv.URL, Options{})
	if _, err := c.SearchStudies(t.Context(), Query{}); err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 {
		t.Fatalf("%d requests, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Errorf("retried after %s, Retry-After asked for 1 s", gap)
	}

	srv2, calls := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c = newTestClient(t, srv2.URL, Options{Retry: Retry{MaxAttempts: 3, MaxRetryAfter: time.Minute}})
	_, err := c.SearchStudies(t.Context(), Query{})
	if !errors.Is(err, ErrServer) || calls.Load() != 1 || !strings.Contains(err.Error(), "Retry-After") {
		t.Errorf("err = %v after %d requests; want ErrServer naming Retry-After after 1", err, calls.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{"0", 0, true},
		{"Thu, 03 Dec 2026 18:00:30 GMT", 30 * time.Second, true},
		{"Thu, 03 Dec 2026 17:00:00 GMT", 0, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1", Options{Retry: Retry{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}})
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 9: time.Second} {
		for range 50 {
			d := c.backoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}

// TestConnectionRefused: no server at all gives a TransportError after
// every attempt.
func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newTestClient(t, "http://"+addr+"/dicom-web", Options{})
	_, err = c.SearchStudies(t.Context(), Query{})
	var te *TransportError
	if !errors.Is(err, ErrTransport) || !errors.As(err, &te) || te.Attempts != 3 {
		t.Fatalf("err = %v, want a TransportError after 3 attempts", err)
	}
}

// TestTruncatedJSONRetried: a QIDO answer cut short (Content-Length not
// reached) is asked for again; one that stays short is ErrTruncated.
func TestTruncatedJSONRetried(t *testing.T) {
	for _, always := range []bool{false, true} {
		srv, calls := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			body := `[{"0020000D":{"vr":"UI","Value":["1.2.3"]}}]`
			if n == 1 || always {
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				io.WriteString(w, body[:10])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			io.WriteString(w, body)
		})
		c := newTestClient(t, srv.URL, Options{})
		st, err := c.SearchStudies(t.Context(), Query{})
		if always {
			if !errors.Is(err, ErrTruncated) || calls.Load() != 3 {
				t.Errorf("always short: %v after %d requests, want ErrTruncated after 3", err, calls.Load())
			}
			continue
		}
		if err != nil || len(st) != 1 || calls.Load() != 2 {
			t.Errorf("short once: %v, %v after %d requests", st, err, calls.Load())
		}
	}
}

// TestConnectionDropThenOK: a server that hangs up on the first request is
// retried.
func TestConnectionDropThenOK(t *testing.T) {
	srv, calls := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "[]")
	})
	c := newTestClient(t, srv.URL, Options{})
	if _, err := c.SearchStudies(t.Context(), Query{}); err != nil || calls.Load() != 2 {
		t.Fatalf("err = %v after %d requests", err, calls.Load())
	}
}

func TestWADOFallback(t *testing.T) {
	tests := []struct {
		name         string
		refuse       int // status for the explicit-LE request; 0 = serve it
		anyStatus    []int
		wantTS       string
		wantFallback bool
		wantErr      error
		wantCalls    int32
	}{
		{"explicit LE served", 0, nil, ExplicitVRLittleEndian, false, nil, 1},
		{"orthanc 500 cannot transcode", 500, nil, AnyTransferSyntax, true, nil, 2},
		{"406 not acceptable", 406, nil, AnyTransferSyntax, true, nil, 2},
		{"415", 415, nil, AnyTransferSyntax, true, nil, 2},
		{"fallback 503 once then ok", 500, []int{503}, AnyTransferSyntax, true, nil, 3},
		{"fallback keeps failing", 500, []int{500, 500, 500}, AnyTransferSyntax, true, ErrServer, 4},
		{"404 is not a fallback", 404, nil, ExplicitVRLittleEndian, false, ErrNotFound, 1},
		{"503 is retried, not a fallback", 503, nil, ExplicitVRLittleEndian, false, ErrServer, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			anyN := 0
			srv, calls := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				accept := r.Header.Get("Accept")
				if r.URL.Path != testSeries {
					t.Errorf("path %s", r.URL.Path)
				}
				if strings.HasSuffix(accept, "transfer-syntax="+ExplicitVRLittleEndian) {
					if tc.refuse != 0 {
						w.WriteHeader(tc.refuse)
						io.WriteString(w, `{"HttpStatus":500,"Message":"Error encountered within the plugin engine"}`)
						return
					}
				} else if !strings.HasSuffix(accept, "transfer-syntax=*") {
					t.Errorf("Accept %q", accept)
				} else {
					anyN++
					if anyN <= len(tc.anyStatus) {
						w.WriteHeader(tc.anyStatus[anyN-1])
						return
					}
				}
				w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=XYZ`)
				io.WriteString(w, multipartBody("XYZ", "one", "two"))
			})
			c := newTestClient(t, srv.URL, Options{})
			res, got, err := collect(t, c)
			if calls.Load() != tc.wantCalls {
				t.Errorf("%d requests, want %d", calls.Load(), tc.wantCalls)
			}
			if res.TransferSyntax != tc.wantTS || res.Fallback != tc.wantFallback {
				t.Errorf("result %+v, want syntax %s fallback %v", res, tc.wantTS, tc.wantFallback)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != "one,two" || res.Parts != 2 || res.Bytes != 6 {
				t.Fatalf("parts %q, %+v, %v", got, res, err)
			}
			if tc.wantFallback && !strings.Contains(res.FallbackReason, "plugin engine") {
				t.Errorf("FallbackReason %q", res.FallbackReason)
			}
		})
	}
}

// TestWADOFaults: broken bodies end in a typed error (or a successful
// retry), never a hang or a panic.
func TestWADOFaults(t *testing.T) {
	tests := []struct {
		name      string
		handler   func(n int, w http.ResponseWriter, r *http.Request)
		wantErr   []error
		wantParts int
		wantCalls int32
	}{
		{"truncated multipart", func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=XYZ`)
			body := multipartBody("XYZ", "one", "two")
			io.WriteString(w, body[:len(body)-20])
		}, []error{ErrMultipart, ErrTruncated}, 1, 1},
		{"wrong boundary", func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=ABC`)
			io.WriteString(w, multipartBody("XYZ", "one"))
		}, []error{ErrMultipart}, 0, 1},
		{"not multipart", func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/dicom")
			io.WriteString(w, "DICM")
		}, []error{ErrMultipart}, 0, 1},
		{"500 in the middle of a series", func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=XYZ`)
			body := multipartBody("XYZ", "one", "two", "three")
			io.WriteString(w, body[:strings.Index(body, "three")])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the server fails while sending
		}, []error{ErrTruncated}, 2, 1},
		{"broken before the first part is retried", func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=XYZ`)
			if n == 1 {
				io.WriteString(w, "--XYZ\r\nContent-Type: application/dicom\r\nContent-Length: 100\r\n\r\npartial")
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			io.WriteString(w, multipartBody("XYZ", "one", "two"))
		}, nil, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := countingServer(t, tc.handler)
			c := newTestClient(t, srv.URL, Options{})
			res, got, err := collect(t, c)
			for _, want := range tc.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
			if tc.wantErr == nil && err != nil {
				t.Errorf("err = %v", err)
			}
			if res.Parts != tc.wantParts || len(got) < tc.wantParts {
				t.Errorf("%d parts delivered (%q), want %d", res.Parts, got, tc.wantParts)
			}
			if calls.Load() != tc.wantCalls {
				t.Errorf("%d requests, want %d", calls.Load(), tc.wantCalls)
			}
		})
	}
}

// TestStalls: a server that stops sending ends in ErrTimeout after
// StallTimeout (body) or Timeout (JSON answer), not in a hang.
func TestStalls(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/studies/1.2.3/series") {
			w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=XYZ`)
			io.WriteString(w, "--XYZ\r\n\r\nsome bytes")
			w.(http.Flusher).Flush()
		}
		select { // stall
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Options{StallTimeout: 150 * time.Millisecond, Timeout: 150 * time.Millisecond, Retry: Retry{MaxAttempts: 2, InitialBackoff: time.Millisecond}})

	res, _, err := collect(t, c)
	var te *TimeoutError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) || !te.Stalled {
		t.Errorf("stalled body: err = %v, want a stalled TimeoutError", err)
	}
	if res.Parts != 0 {
		t.Errorf("parts = %d", res.Parts)
	}
	_, err = c.SearchStudies(t.Context(), Query{})
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) || te.Stalled {
		t.Errorf("stalled QIDO: err = %v, want a TimeoutError", err)
	}
	// the caller's cancellation wins over everything, and says so
	ctx, cancel := context.WithCancel(t.Context())
	c2 := newTestClient(t, srv.URL, Options{})
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err = c2.SearchStudies(ctx, Query{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

func TestCallbackErrorStops(t *testing.T) {
	srv, _ := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=XYZ`)
		io.WriteString(w, multipartBody("XYZ", "one", "two"))
	})
	c := newTestClient(t, srv.URL, Options{})
	stop := errors.New("enough")
	res, err := c.RetrieveInstance(t.Context(), "1.2.3", "4.5.6", "7.8", func(p *Part) error { return stop })
	if !errors.Is(err, stop) || res.Parts != 0 {
		t.Errorf("err = %v, parts %d", err, res.Parts)
	}
	if _, err := c.RetrieveSeries(t.Context(), "1.2.3", "../x", nil); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("bad UID: %v", err)
	}
}

func TestStoreOutcomes(t *testing.T) {
	ref := `"00081199":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.66.4"]},"00081155":{"vr":"UI","Value":["1.2.3.4"]}%s}]}`
	failed := `"00081198":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]},"00081155":{"vr":"UI","Value":["9.9"]},"00081197":{"vr":"US","Value":[49152]}}]}`
	tests := []struct {
		name        string
		status      int
		body        string
		want        StoreOutcome
		wantErr     []error
		wantFailure FailureCode
		wantWarning WarningCode
	}{
		{"200 stored", 200, `{` + fmt.Sprintf(ref, "") + `,"00081198":{"vr":"SQ"}}`, Stored, nil, 0, 0},
		{"202 with warning", 202, `{` + fmt.Sprintf(ref, `,"00081196":{"vr":"US","Value":[45056]}`) + `}`, StoredWithWarnings, nil, 0, CoercionOfDataElements},
		{"200 with a failure is a failure", 200, `{` + failed + `}`, Refused, []error{ErrStoreFailed}, CannotUnderstand, 0},
		{"202 partial", 202, `{` + fmt.Sprintf(ref, "") + `,` + failed + `}`, PartiallyStored, []error{ErrStoreFailed}, CannotUnderstand, 0},
		{"409 conflict", 409, `{` + failed + `}`, Conflict, []error{ErrStoreFailed, ErrConflict}, CannotUnderstand, 0},
		{"409 without body", 409, ``, Conflict, []error{ErrStoreFailed, ErrConflict}, 0, 0},
		{"400 refused", 400, `{` + failed + `}`, Refused, []error{ErrStoreFailed}, CannotUnderstand, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/dicom+json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			c := newTestClient(t, srv.URL, Options{})
			res, err := c.Store(t.Context(), "", BytesUpload("seg", []byte("DICM")))
			for _, want := range tc.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
			if tc.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			if res == nil || res.Outcome != tc.want || res.StatusCode != tc.status {
				t.Fatalf("result %+v, want %s", res, tc.want)
			}
			if tc.wantFailure != 0 && (len(res.Failed) != 1 || res.Failed[0].FailureReason != tc.wantFailure || res.Failed[0].SOPInstanceUID != "9.9") {
				t.Errorf("Failed = %+v", res.Failed)
			}
			if tc.wantWarning != 0 && res.Referenced[0].WarningReason != tc.wantWarning {
				t.Errorf("Referenced = %+v", res.Referenced)
			}
		})
	}
	if got := CannotUnderstand.String(); got != "0xC000 cannot understand" {
		t.Errorf("String() = %q", got)
	}
}

// TestStoreBody checks the request body byte for byte and that a retry
// sends it whole again.
func TestStoreBody(t *testing.T) {
	var bodies []string
	var cts []string
	srv, _ := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if int64(len(b)) != r.ContentLength {
			t.Errorf("Content-Length %d, body %d bytes", r.ContentLength, len(b))
		}
		bodies = append(bodies, string(b))
		cts = append(cts, r.Header.Get("Content-Type"))
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"00081198":{"vr":"SQ"}}`)
	})
	f := filepath.Join(t.TempDir(), "b.dcm")
	os.WriteFile(f, []byte("second-instance"), 0o644)
	up, err := FileUpload(f)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, srv.URL, Options{})
	if _, err := c.Store(t.Context(), "1.2.3", BytesUpload("a", []byte("first")), up); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || bodies[0] != bodies[1] {
		t.Fatalf("%d bodies; a retry must resend the same body", len(bodies))
	}
	boundary, err := BoundaryFromContentType(cts[0])
	if err != nil {
		t.Fatal(err)
	}
	want := "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\nfirst\r\n--" + boundary +
		"\r\nContent-Type: application/dicom\r\n\r\nsecond-instance\r\n--" + boundary + "--\r\n"
	if bodies[0] != want {
		t.Errorf("body\n%q\nwant\n%q", bodies[0], want)
	}
	// our own parser reads it back
	parts, err := readParts(t, strings.NewReader(bodies[0]), boundary)
	if err != nil || len(parts) != 2 || string(parts[1].Data) != "second-instance" {
		t.Errorf("read back: %v, %v", parts, err)
	}
	if _, err := c.Store(t.Context(), ""); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("no instance: %v", err)
	}
}

func TestQIDOQueryAndPaging(t *testing.T) {
	const total = 7
	var queries []string
	srv, _ := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		q := r.URL.Query()
		limit, offset := atoi(q.Get("limit")), atoi(q.Get("offset"))
		if q.Get("ignore") != "" {
			offset = 0
		}
		var items []string
		for i := offset; i < total && (limit == 0 || i < offset+limit); i++ {
			items = append(items, fmt.Sprintf(`{"0020000E":{"vr":"UI","Value":["1.2.%d"]},"00080060":{"vr":"CS","Value":["CT"]},"00201209":{"vr":"IS","Value":[%d]}}`, i, 10+i))
		}
		io.WriteString(w, "["+strings.Join(items, ",")+"]")
	})
	c := newTestClient(t, srv.URL, Options{})
	for _, limit := range []int{0, 1, 3, 7, 10} {
		var got []string
		err := c.EachSeries(t.Context(), "", Query{Limit: limit, Match: map[string]string{"Modality": "CT"}}, func(s Series) error {
			got = append(got, s.SeriesInstanceUID)
			if s.Modality != "CT" || s.NumberOfSeriesRelatedInstances < 10 {
				t.Errorf("series %+v", s)
			}
			return nil
		})
		if err != nil || len(got) != total || got[total-1] != "1.2.6" {
			t.Errorf("limit %d: %v, %v", limit, got, err)
		}
	}
	err := c.EachSeries(t.Context(), "", Query{Limit: 2, Match: map[string]string{"ignore": "offset"}}, func(Series) error { return nil })
	if !errors.Is(err, ErrPaging) {
		t.Errorf("server ignoring offset: %v, want ErrPaging", err)
	}
	queries = nil
	dr := DateRange{From: time.Date(2003, 4, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2003, 4, 30, 0, 0, 0, 0, time.UTC)}
	_, err = c.SearchStudies(t.Context(), Query{Match: map[string]string{"StudyDate": dr.String(), "PatientName": "Doe*"},
		IncludeFields: []string{"00081030", "ModalitiesInStudy"}, FuzzyMatching: true, Limit: 5, Offset: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := "PatientName=Doe*&StudyDate=20030401-20030430&fuzzymatching=true&includefield=00081030&includefield=ModalitiesInStudy&limit=5&offset=10"
	if queries[0] != want {
		t.Errorf("query\n%s\nwant\n%s", queries[0], want)
	}
	for _, bad := range []Query{{Match: map[string]string{"limit": "3"}}, {IncludeFields: []string{"a=b"}}, {Limit: -1}} {
		if _, err := c.SearchStudies(t.Context(), bad); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("query %+v: %v", bad, err)
		}
	}
	if got := encodeQuery(url.Values{"PatientName": {"Doe^J* &x=1+%#\u00e9"}}); got != "PatientName=Doe^J*%20%26x%3D1%2B%25%23%C3%A9" {
		t.Errorf("escaped %q", got)
	}
	if got := (DateRange{From: dr.From}).String(); got != "20030401-" {
		t.Errorf("open range %q", got)
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// TestRedactedURL: QIDO match values (patient names, IDs) never appear
// in errors.
func TestRedactedURL(t *testing.T) {
	srv, _ := countingServer(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) })
	c := newTestClient(t, srv.URL, Options{})
	_, err := c.SearchStudies(t.Context(), Query{Match: map[string]string{"PatientID": "SECRET-ID-42"}})
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "PatientID") {
		t.Errorf("err = %v", err)
	}
}

// TestTLS: a private CA bundle, a client certificate, an unknown
// certificate (not retried), and skip-verify (logged loudly).
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := makeCA(t)
	clientPEM, clientKeyPEM := makeLeaf(t, caCert, caKey, "mhpnet-node")
	writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", clientPEM)
	writePEM(t, filepath.Join(dir, "client-key.pem"), "EC PRIVATE KEY", clientKeyPEM)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "mhpnet-node" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		io.WriteString(w, "[]")
	}))
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	writePEM(t, filepath.Join(dir, "server-ca.pem"), "CERTIFICATE", srv.Certificate().Raw)

	good := TLS{CAFile: filepath.Join(dir, "server-ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}
	c := newTestClient(t, srv.URL, Options{TLS: good})
	if _, err := c.SearchStudies(t.Context(), Query{}); err != nil {
		t.Fatalf("CA bundle + client certificate: %v", err)
	}
	c = newTestClient(t, srv.URL, Options{TLS: TLS{CAFile: good.CAFile}})
	if _, err := c.SearchStudies(t.Context(), Query{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("without client certificate: %v, want ErrUnauthorized (403)", err)
	}
	c = newTestClient(t, srv.URL, Options{TLS: TLS{CertFile: good.CertFile, KeyFile: good.KeyFile}})
	_, err := c.SearchStudies(t.Context(), Query{})
	var te *TransportError
	if !errors.Is(err, ErrTransport) || !errors.As(err, &te) || te.Attempts != 1 {
		t.Errorf("unknown server certificate: %v, want a TransportError without retry", err)
	}

	core, logs := observer.New(zap.WarnLevel)
	c = newTestClient(t, srv.URL, Options{TLS: TLS{InsecureSkipVerify: true, CertFile: good.CertFile, KeyFile: good.KeyFile}, Logger: zap.New(core)})
	if _, err := c.SearchStudies(t.Context(), Query{}); err != nil {
		t.Fatalf("skip-verify: %v", err)
	}
	if logs.FilterMessageSnippet("VERIFICATION IS DISABLED").Len() != 1 {
		t.Errorf("skip-verify was not logged at Warn: %v", logs.All())
	}
}

func makeCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func makeLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string) (certDER, keyDER []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return der, kb
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
