package dicomweb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"
)

// Client talks to one DICOMweb service. It is safe for concurrent use.
type Client struct {
	opts Options
	base *url.URL
	http *http.Client
	auth *authenticator
	log  *zap.Logger
}

// New validates opts, fills in defaults and builds a Client. It does not
// contact the server.
func New(opts Options) (*Client, error) {
	o, base, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	log := o.Logger.With(zap.String("component", "dicomweb"), zap.String("pacs", base.Redacted()))
	rt := o.Transport
	if rt == nil {
		t, err := buildTransport(o.TLS)
		if err != nil {
			return nil, err
		}
		rt = t
	}
	if o.TLS.InsecureSkipVerify {
		log.Warn("TLS CERTIFICATE VERIFICATION IS DISABLED for the PACS connection (TLS.InsecureSkipVerify): " +
			"anyone on the network path can read and alter patient data; use TLS.CAFile instead")
	}
	if base.Scheme == "http" && (o.Auth.Username != "" || o.Auth.BearerToken != "" || o.Auth.BearerTokenFile != "" || o.Auth.BearerTokenEnv != "") && !isLoopback(base.Hostname()) {
		log.Warn("credentials are sent over plain http to a non-local PACS; use https")
	}
	return &Client{
		opts: o,
		base: base,
		// Redirects keep the Authorization header only within the same
		// host (net/http's rule); timeouts are per attempt (see attempt).
		http: &http.Client{Transport: rt},
		auth: newAuthenticator(o.Auth),
		log:  log,
	}, nil
}

// BaseURL returns the service root the client was built for.
func (c *Client) BaseURL() string { return c.base.String() }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func buildTransport(o TLS) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 8
	if o.isZero() {
		return t, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // opt-in, logged loudly
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, &OptionsError{Field: "TLS.CAFile", Reason: err.Error()}
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &OptionsError{Field: "TLS.CAFile", Reason: o.CAFile + " holds no PEM certificate"}
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, &OptionsError{Field: "TLS.CertFile", Reason: err.Error()}
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	t.TLSClientConfig = cfg
	return t, nil
}

// request describes one logical request; do may send it several times.
type request struct {
	method string
	path   string // below the base URL, already escaped
	query  url.Values
	header http.Header
	// body opens a fresh body for each attempt (nil: no body) and gives
	// its length (-1: unknown, chunked).
	body func() (io.ReadCloser, int64, error)
	// stream: the answer is read incrementally; StallTimeout applies
	// instead of Timeout.
	stream bool
	// finalStatus, when set, marks statuses that end the request at once
	// instead of being retried (the caller has a fallback for them).
	finalStatus func(code int) bool
	// accept lists non-2xx statuses the caller wants to read itself.
	accept []int
}

func (r *request) ok(code int) bool {
	if code >= 200 && code < 300 {
		return true
	}
	for _, a := range r.accept {
		if a == code {
			return true
		}
	}
	return false
}

func (c *Client) url(r *request) string {
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawPath = c.base.EscapedPath() + r.path
	u.RawQuery = encodeQuery(r.query)
	return u.String()
}

// encodeQuery writes QIDO parameters escaping only what would break the
// query's structure (space, '%', '&', '=', '+', '#') and bytes outside
// printable ASCII. Orthanc 1.10's DICOMweb plugin does not percent-decode
// query values: "AccessionNumber=0308%2A" matches nothing where
// "AccessionNumber=0308*" matches (measured), so wildcards, ',', '-' and
// '^' go as they are, which RFC 3986 allows in a query for all but '^'.
func encodeQuery(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(escapeQueryPart(k))
			b.WriteByte('=')
			b.WriteString(escapeQueryPart(val))
		}
	}
	return b.String()
}

func escapeQueryPart(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f || c == '%' || c == '&' || c == '=' || c == '+' || c == '#':
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// redactedURL is the URL for messages and logs: query values may hold
// patient names or IDs (QIDO match keys), so only their keys remain.
func (c *Client) redactedURL(r *request) string {
	s := c.base.Redacted() + r.path
	if len(r.query) == 0 {
		return s
	}
	keys := make([]string, 0, len(r.query))
	for k := range r.query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return s + "?" + strings.Join(keys, "&")
}

// do sends r, retrying transient failures, and returns an answer whose
// status r accepts. Any other final answer is an *HTTPError; no answer at
// all is a *TransportError or *TimeoutError; a cancelled ctx gives its
// cause. The caller closes the body.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, error) {
	max := c.opts.Retry.MaxAttempts
	for attempt := 1; ; attempt++ {
		resp, err := c.attempt(ctx, r)
		var (
			final     error
			retryable bool
			wait      time.Duration
		)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("dicomweb: %s %s: %w", r.method, c.redactedURL(r), context.Cause(ctx))
			}
			var te *TimeoutError
			var oe *OptionsError
			switch {
			case errors.As(err, &oe):
				return nil, err
			case errors.As(err, &te):
				final, retryable = err, true
			default:
				final = &TransportError{Method: r.method, URL: c.redactedURL(r), Attempts: attempt, Err: err}
				retryable = transientTransportError(err)
			}
		case r.ok(resp.StatusCode):
			return resp, nil
		default:
			herr := c.httpError(r, resp, attempt)
			final = herr
			code := resp.StatusCode
			retryable = (code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500) &&
				(r.finalStatus == nil || !r.finalStatus(code))
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && retryable {
				if ra > c.opts.Retry.MaxRetryAfter {
					herr.Message = strings.TrimSpace(herr.Message + fmt.Sprintf(" (Retry-After %s exceeds Retry.MaxRetryAfter %s)", ra.Round(time.Second), c.opts.Retry.MaxRetryAfter))
					return nil, herr
				}
				wait = ra
			}
		}
		if !retryable || attempt >= max {
			return nil, final
		}
		if wait == 0 {
			wait = c.backoff(attempt)
		}
		c.log.Info("retrying DICOMweb request", zap.String("method", r.method), zap.String("url", c.redactedURL(r)),
			zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(final))
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("dicomweb: %s %s: %w (while waiting to retry after: %v)", r.method, c.redactedURL(r), err, final)
		}
	}
}

// sleep waits d or until ctx ends (then it returns the cause).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// retryBroken tells whether a body that broke while being read (after a
// successful status) is worth asking for again, and waits the back-off.
func (c *Client) retryBroken(ctx context.Context, attempt int, url string, err error) bool {
	if ctx.Err() != nil || attempt >= c.opts.Retry.MaxAttempts || !(errors.Is(err, ErrTruncated) || errors.Is(err, ErrTimeout)) {
		return false
	}
	wait := c.backoff(attempt)
	c.log.Info("retrying a DICOMweb answer that broke while being read", zap.String("url", url),
		zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
	return sleep(ctx, wait) == nil
}

// backoff is the wait after the given (1-based) failed attempt:
// InitialBackoff doubled per attempt, capped, times a random 50-100 %.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.Retry.InitialBackoff
	for i := 1; i < attempt && d < c.opts.Retry.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.Retry.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3).
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// transientTransportError tells a network failure worth retrying (refused,
// reset, EOF before the answer) from one that will not heal (certificate
// rejected, bad URL).
func transientTransportError(err error) bool {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var rhe tls.RecordHeaderError
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie), errors.As(err, &rhe):
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(ue.Err.Error(), "unsupported protocol scheme") {
		return false
	}
	return true
}

// attempt sends r once. The returned body is watched: for a stream, each
// read that makes progress re-arms the stall timer; closing it releases
// the attempt's context.
func (c *Client) attempt(ctx context.Context, r *request) (*http.Response, error) {
	actx, cancel := context.WithCancelCause(ctx)
	limit := c.opts.Timeout
	if r.stream {
		limit = c.opts.StallTimeout
	}
	te := &TimeoutError{Method: r.method, URL: c.redactedURL(r), Limit: limit, Stalled: r.stream}
	timer := time.AfterFunc(limit, func() { cancel(te) })
	fail := func(err error) (*http.Response, error) {
		timer.Stop()
		if errors.Is(context.Cause(actx), ErrTimeout) && ctx.Err() == nil {
			err = te
		}
		cancel(nil)
		return nil, err
	}
	var body io.ReadCloser
	length := int64(0)
	if r.body != nil {
		b, n, err := r.body()
		if err != nil {
			return fail(err)
		}
		body, length = b, n
	}
	req, err := http.NewRequestWithContext(actx, r.method, c.url(r), body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return fail(err)
	}
	if body != nil {
		req.ContentLength = length
	}
	for k, vs := range c.opts.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if err := c.auth.apply(req); err != nil {
		if body != nil {
			body.Close()
		}
		return fail(err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fail(err)
	}
	if r.stream {
		timer.Reset(limit)
	}
	resp.Body = &watchedBody{rc: resp.Body, ctx: actx, parent: ctx, cancel: cancel, timer: timer, stall: limit, stream: r.stream}
	return resp, nil
}

// watchedBody turns a cancelled attempt into a typed error and re-arms the
// stall timer on progress.
type watchedBody struct {
	rc     io.ReadCloser
	ctx    context.Context // the attempt's
	parent context.Context // the caller's
	cancel context.CancelCauseFunc
	timer  *time.Timer
	stall  time.Duration
	stream bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && b.stream {
		b.timer.Reset(b.stall)
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); cause != nil {
			if b.parent.Err() != nil {
				return n, context.Cause(b.parent)
			}
			return n, cause
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("%w: connection closed before the end of the body: %w", ErrTruncated, err)
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 4 << 10

// httpError reads (a bounded part of) an error answer, closes it and
// describes it.
func (c *Client) httpError(r *request, resp *http.Response, attempt int) *HTTPError {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &HTTPError{Method: r.method, URL: c.redactedURL(r), StatusCode: resp.StatusCode, Message: errorMessage(b), Attempts: attempt}
}

// errorMessage extracts the server's explanation: Orthanc's JSON error
// ("Details", else "Message"), else the first line of a text body.
func errorMessage(b []byte) string {
	var oj struct {
		Message string `json:"Message"`
		Details string `json:"Details"`
	}
	if json.Unmarshal(b, &oj) == nil {
		switch {
		case oj.Details != "" && oj.Message != "":
			return oj.Message + ": " + oj.Details
		case oj.Details != "":
			return oj.Details
		case oj.Message != "":
			return oj.Message
		}
	}
	s := string(b)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.TrimSpace(s)
}
