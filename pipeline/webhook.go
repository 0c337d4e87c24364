package pipeline

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// WebhookPath is where the webhook listens.
const WebhookPath = "/v1/events/study"

// SignatureHeader carries "sha256=" + the hex HMAC-SHA256 of the body.
const SignatureHeader = "X-Signature-256"

// EventPublisher stores a study event for the router (Queue does).
type EventPublisher interface {
	PublishEvent(ctx context.Context, ev StudyEvent) error
}

// WebhookOptions configures the webhook.
type WebhookOptions struct {
	// Token is the shared bearer token; empty disables bearer auth.
	Token string
	// HMACSecret verifies SignatureHeader; empty disables HMAC auth.
	HMACSecret string
	// MaxBodyBytes bounds the body. Default 64 KiB.
	MaxBodyBytes int64
	// Source is given to events that name none.
	Source string
}

// Webhook is the HTTP intake: POST /v1/events/study with a StudyEvent body,
// authenticated by a bearer token or an HMAC-SHA256 signature of the body.
// Anything else is refused before the body is looked at.
type Webhook struct {
	pub     EventPublisher
	opts    WebhookOptions
	log     *zap.Logger
	metrics *Metrics
}

// NewWebhook returns the handler. At least one secret is required: the
// webhook never accepts unauthenticated requests.
func NewWebhook(pub EventPublisher, opts WebhookOptions, log *zap.Logger, m *Metrics) (*Webhook, error) {
	if opts.Token == "" && opts.HMACSecret == "" {
		return nil, errors.New("webhook: a token or an HMAC secret is required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Webhook{pub: pub, opts: opts, log: log.With(zap.String("component", "webhook")), metrics: m}, nil
}

type webhookReply struct {
	Status           string `json:"status"`
	StudyInstanceUID string `json:"StudyInstanceUID,omitempty"`
	Error            string `json:"error,omitempty"`
}

func reply(w http.ResponseWriter, code int, r webhookReply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
}

// ServeHTTP implements http.Handler.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	refuse := func(code int, msg string, err error) {
		h.metrics.Events.WithLabelValues(IntakeWebhook, "refused").Inc()
		h.log.Warn("webhook request refused", zap.Int("status", code), zap.String("remote", r.RemoteAddr), zap.Error(err))
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mhpnet"`)
		}
		reply(w, code, webhookReply{Status: "refused", Error: msg})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, "use POST", nil)
		return
	}
	// The body is read (bounded) before authentication because the HMAC
	// covers it; nothing in it is trusted until the check passes.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			refuse(http.StatusRequestEntityTooLarge, "body too large", err)
			return
		}
		refuse(http.StatusBadRequest, "cannot read body", err)
		return
	}
	if err := h.authenticate(r, body); err != nil {
		refuse(http.StatusUnauthorized, "missing or wrong secret", err)
		return
	}
	ev, err := ParseStudyEvent(body)
	if err != nil {
		refuse(http.StatusBadRequest, err.Error(), err)
		return
	}
	ev.Intake = IntakeWebhook
	if ev.Source == "" {
		ev.Source = h.opts.Source
	}
	ev.Time = time.Now().UTC()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := h.pub.PublishEvent(ctx, ev); err != nil {
		h.metrics.Events.WithLabelValues(IntakeWebhook, "failed").Inc()
		h.log.Error("study event not stored", zap.String("study_uid", ev.StudyInstanceUID), zap.Error(err))
		w.Header().Set("Retry-After", "30")
		reply(w, http.StatusServiceUnavailable, webhookReply{Status: "unavailable", Error: "event not stored; retry later"})
		return
	}
	h.metrics.Events.WithLabelValues(IntakeWebhook, "accepted").Inc()
	h.log.Info("study event accepted", zap.String("study_uid", ev.StudyInstanceUID), zap.String("source", ev.Source))
	// 202: stored durably for the router, not yet processed.
	reply(w, http.StatusAccepted, webhookReply{Status: "accepted", StudyInstanceUID: ev.StudyInstanceUID})
}

// authenticate accepts a request carrying the right bearer token or the
// right body signature. Comparisons take constant time.
func (h *Webhook) authenticate(r *http.Request, body []byte) error {
	if h.opts.Token != "" {
		if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			// Hashing first makes the comparison independent of the length.
			got, want := sha256.Sum256([]byte(strings.TrimSpace(auth[7:]))), sha256.Sum256([]byte(h.opts.Token))
			if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				return nil
			}
			return fmt.Errorf("%w: wrong bearer token", ErrUnauthorized)
		}
	}
	if h.opts.HMACSecret != "" {
		if sig := r.Header.Get(SignatureHeader); strings.HasPrefix(sig, "sha256=") {
			got, err := hex.DecodeString(sig[len("sha256="):])
			if err != nil {
				return fmt.Errorf("%w: signature is not hex", ErrUnauthorized)
			}
			mac := hmac.New(sha256.New, []byte(h.opts.HMACSecret))
			mac.Write(body)
			if hmac.Equal(got, mac.Sum(nil)) {
				return nil
			}
			return fmt.Errorf("%w: wrong body signature", ErrUnauthorized)
		}
	}
	return fmt.Errorf("%w: no Authorization: Bearer or %s header", ErrUnauthorized, SignatureHeader)
}

// Sign returns the SignatureHeader value for body, for clients and tests.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
