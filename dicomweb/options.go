package dicomweb

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Defaults applied by New to zero fields of Options.
const (
	DefaultUserAgent      = "mhpnet-node/unknown"
	DefaultTimeout        = 2 * time.Minute
	DefaultStallTimeout   = time.Minute
	DefaultMaxAttempts    = 4
	DefaultInitialBackoff = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxRetryAfter  = 2 * time.Minute
	DefaultMaxJSONBytes   = 64 << 20
)

// Options configure a Client. The zero value of every field but BaseURL is
// a sensible default; New validates and fills them in.
type Options struct {
	// BaseURL is the DICOMweb service root, e.g.
	// "https://pacs.example.org/dicom-web" (Orthanc: "http://host:8042/dicom-web").
	// Required; http or https; no user info (use Auth).
	BaseURL string
	// UserAgent names the node and its version, e.g. "mhpnet-node/1.4.0".
	UserAgent string
	// Auth selects how requests authenticate; the zero value sends nothing.
	Auth Auth
	// Headers are added to every request (e.g. a tenant header of a cloud
	// DICOM store). They cannot override Authorization or User-Agent.
	Headers http.Header
	// TLS configures https: a CA bundle, a client certificate.
	TLS TLS
	// Timeout bounds one attempt of a request whose answer is read whole
	// (QIDO-RS, metadata, STOW-RS), from sending to the last byte read.
	Timeout time.Duration
	// StallTimeout bounds how long a streamed WADO-RS body (or any answer's
	// headers) may make no progress; the transfer as a whole has no limit,
	// since a 600-slice series over a slow link can take many minutes.
	StallTimeout time.Duration
	// Retry tunes retries of transient failures.
	Retry Retry
	// MaxJSONBytes bounds a dicom+json answer (QIDO-RS, metadata, STOW-RS).
	MaxJSONBytes int64
	// Logger receives retry notices and security warnings; nil logs nothing.
	// Patient names and IDs are never logged.
	Logger *zap.Logger
	// Transport replaces the HTTP transport (tests, proxies). When set, TLS
	// must be zero: configure TLS on the given transport.
	Transport http.RoundTripper
}

// Auth selects the request authentication. At most one of basic
// (Username) and bearer (BearerToken, BearerTokenFile, BearerTokenEnv)
// may be set.
type Auth struct {
	// Username and Password select HTTP basic authentication.
	Username string
	Password string
	// BearerToken is a literal bearer token.
	BearerToken string
	// BearerTokenFile holds the bearer token (surrounding white space is
	// trimmed); it is read again whenever its size or modification time
	// changes, so a rotated token is picked up without a restart.
	BearerTokenFile string
	// BearerTokenEnv names an environment variable holding the token, read
	// at every request.
	BearerTokenEnv string
}

// TLS configures https connections to the PACS.
type TLS struct {
	// CAFile is a PEM bundle of CAs trusted in addition to the system's.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// PACS that require mutual TLS. Both or neither.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked against the certificate.
	ServerName string
	// InsecureSkipVerify disables certificate checks. Only for a lab;
	// New logs a warning at Warn level for every client built with it.
	InsecureSkipVerify bool
}

func (t TLS) isZero() bool { return t == TLS{} }

// Retry tunes the retry of transient failures: connection errors, 408,
// 429 and 5xx. 4xx answers other than 408 and 429 are never retried.
type Retry struct {
	// MaxAttempts counts the first try; 1 disables retries. Default 4.
	MaxAttempts int
	// InitialBackoff is the wait before the second attempt; it doubles at
	// each attempt up to MaxBackoff, with jitter (a random 50-100 %).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxRetryAfter caps a server's Retry-After; a longer demand ends the
	// retries with ErrRateLimited (or ErrServer for 503).
	MaxRetryAfter time.Duration
}

// withDefaults fills zero fields and validates the result.
func (o Options) withDefaults() (Options, *url.URL, error) {
	if o.BaseURL == "" {
		return o, nil, &OptionsError{Field: "BaseURL", Reason: "required (e.g. http://127.0.0.1:8042/dicom-web)"}
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil {
		return o, nil, &OptionsError{Field: "BaseURL", Reason: err.Error()}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return o, nil, &OptionsError{Field: "BaseURL", Reason: "scheme must be http or https, got " + quoteOrEmpty(u.Scheme)}
	}
	if u.Host == "" {
		return o, nil, &OptionsError{Field: "BaseURL", Reason: "no host"}
	}
	if u.User != nil {
		return o, nil, &OptionsError{Field: "BaseURL", Reason: "must not carry user:password; use Auth.Username/Password"}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return o, nil, &OptionsError{Field: "BaseURL", Reason: "must not have a query or fragment"}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if strings.ContainsAny(o.UserAgent, "\r\n") {
		return o, nil, &OptionsError{Field: "UserAgent", Reason: "contains a line break"}
	}
	a := o.Auth
	bearer := 0
	for _, s := range []string{a.BearerToken, a.BearerTokenFile, a.BearerTokenEnv} {
		if s != "" {
			bearer++
		}
	}
	if bearer > 1 {
		return o, nil, &OptionsError{Field: "Auth", Reason: "set only one of BearerToken, BearerTokenFile, BearerTokenEnv"}
	}
	if bearer == 1 && (a.Username != "" || a.Password != "") {
		return o, nil, &OptionsError{Field: "Auth", Reason: "basic (Username/Password) and bearer are exclusive"}
	}
	if a.Username == "" && a.Password != "" {
		return o, nil, &OptionsError{Field: "Auth.Username", Reason: "a password without a user name"}
	}
	if strings.ContainsAny(a.BearerToken, "\r\n") {
		return o, nil, &OptionsError{Field: "Auth.BearerToken", Reason: "contains a line break"}
	}
	for k := range o.Headers {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "User-Agent", "Accept", "Content-Type", "Content-Length", "Host":
			return o, nil, &OptionsError{Field: "Headers", Reason: k + " is set by the client and cannot be overridden"}
		}
	}
	if (o.TLS.CertFile == "") != (o.TLS.KeyFile == "") {
		return o, nil, &OptionsError{Field: "TLS", Reason: "CertFile and KeyFile go together"}
	}
	if o.Transport != nil && !o.TLS.isZero() {
		return o, nil, &OptionsError{Field: "TLS", Reason: "cannot be combined with a custom Transport"}
	}
	if o.Timeout < 0 || o.StallTimeout < 0 {
		return o, nil, &OptionsError{Field: "Timeout", Reason: "negative"}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	r := &o.Retry
	if r.MaxAttempts < 0 || r.InitialBackoff < 0 || r.MaxBackoff < 0 || r.MaxRetryAfter < 0 {
		return o, nil, &OptionsError{Field: "Retry", Reason: "negative value"}
	}
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.InitialBackoff == 0 {
		r.InitialBackoff = DefaultInitialBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.MaxBackoff < r.InitialBackoff {
		r.MaxBackoff = r.InitialBackoff
	}
	if r.MaxRetryAfter == 0 {
		r.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.MaxJSONBytes < 0 {
		return o, nil, &OptionsError{Field: "MaxJSONBytes", Reason: "negative"}
	}
	if o.MaxJSONBytes == 0 {
		o.MaxJSONBytes = DefaultMaxJSONBytes
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o, u, nil
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return "nothing"
	}
	return `"` + s + `"`
}
