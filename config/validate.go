package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mhpnet/node/pipeline/rules"
)

// token is a NATS subject token usable as a priority.
var token = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// validate checks every section and compiles the routing rules.
func (v *validator) validate(c *Config) {
	oneOf := func(path, val string, allowed ...string) {
		if !slices.Contains(allowed, val) {
			v.add(path, "%q is not one of %s", val, strings.Join(allowed, ", "))
		}
	}
	positive := func(path string, d time.Duration) {
		if d <= 0 {
			v.add(path, "must be a positive duration (e.g. 30s), got %s", d)
		}
	}
	hostPort := func(path, addr string, allowEmpty bool) {
		if addr == "" && allowEmpty {
			return
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			v.add(path, "%q is not host:port (e.g. 127.0.0.1:8080): %v", addr, err)
			return
		}
		// -1 and 0 pick a free port.
		if p, err := strconv.Atoi(port); err == nil && (p < -1 || p > 65535) {
			v.add(path, "%q: port %d is not between 0 and 65535", addr, p)
		}
	}

	if c.Node.DataDir == "" {
		v.add("node.data_dir", "must name a directory for the queue store and poller state")
	}
	oneOf("node.log_format", c.Node.LogFormat, "json", "console")
	oneOf("node.log_level", c.Node.LogLevel, "debug", "info", "warn", "error")

	hostPort("http.listen", c.HTTP.Listen, false)
	positive("http.shutdown_timeout", c.HTTP.ShutdownTimeout)

	if c.PACS.Name == "" || strings.ContainsAny(c.PACS.Name, " .*>") {
		v.add("pacs.name", "%q must be a non-empty name without spaces, dots, * or >", c.PACS.Name)
	}
	if c.PACS.URL == "" {
		v.add("pacs.url", "required: the DICOMweb root of the PACS, e.g. http://orthanc:8042/dicom-web (or set MHPNET_PACS_URL)")
	} else if u, err := url.Parse(c.PACS.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("pacs.url", "%q is not an http:// or https:// URL", c.PACS.URL)
	}
	// A secret given as {file: ...} or {env: ...} that could not be read is
	// already reported where it is; "required" would say it twice.
	configured := func(s Secret) bool { return s.IsSet() || s.File != "" || s.Env != "" }
	switch c.PACS.Auth.Type {
	case "none":
	case "basic":
		if c.PACS.Auth.Username == "" {
			v.add("pacs.auth.username", "required with auth type basic")
		}
		if !configured(c.PACS.Auth.Password) {
			v.add("pacs.auth.password", "required with auth type basic: {file: PATH} or {env: NAME}")
		}
	case "bearer":
		if !configured(c.PACS.Auth.Token) {
			v.add("pacs.auth.token", "required with auth type bearer: {file: PATH} or {env: NAME}")
		}
	default:
		v.add("pacs.auth.type", "%q is not one of none, basic, bearer", c.PACS.Auth.Type)
	}
	if (c.PACS.ClientCert == "") != (c.PACS.ClientKey == "") {
		v.add("pacs.client_cert", "client_cert and client_key go together")
	}
	positive("pacs.timeout", c.PACS.Timeout)
	if c.PACS.MaxRetries < 0 || c.PACS.MaxRetries > 20 {
		v.add("pacs.max_retries", "must be between 0 and 20, got %d", c.PACS.MaxRetries)
	}

	if c.NATS.URL != "" {
		for _, u := range strings.Split(c.NATS.URL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, pu.Scheme) || pu.Host == "" {
				v.add("nats.url", "%q is not a nats:// or tls:// URL", u)
			}
		}
	} else {
		hostPort("nats.embedded.listen", c.NATS.Embedded.Listen, true)
	}

	q := c.Queue
	if q.Concurrency < 1 || q.Concurrency > 64 {
		v.add("queue.concurrency", "must be between 1 and 64, got %d", q.Concurrency)
	}
	if len(q.Priorities) == 0 {
		v.add("queue.priorities", "must list at least one priority, highest first")
	}
	for i, p := range q.Priorities {
		if !token.MatchString(p) {
			v.add(fmt.Sprintf("queue.priorities[%d]", i), "%q must be lower-case letters, digits, - or _", p)
		}
	}
	if !slices.Contains(q.Priorities, q.DefaultPriority) {
		v.add("queue.default_priority", "%q is not in queue.priorities %v", q.DefaultPriority, q.Priorities)
	}
	if q.MaxDeliver < 1 || q.MaxDeliver > 100 {
		v.add("queue.max_deliver", "must be between 1 and 100, got %d", q.MaxDeliver)
	}
	if q.AckWait < time.Second {
		v.add("queue.ack_wait", "must be at least 1s, got %s", q.AckWait)
	}
	if len(q.Backoff) == 0 {
		v.add("queue.backoff", "must list at least one delay")
	}
	for i, d := range q.Backoff {
		positive(fmt.Sprintf("queue.backoff[%d]", i), d)
	}
	positive("queue.duplicate_window", q.DuplicateWindow)
	positive("queue.dead_letter_max_age", q.DeadLetterMaxAge)
	positive("queue.results_max_age", q.ResultsMaxAge)
	positive("queue.job_timeout", q.JobTimeout)

	in := c.Intake
	if in.NATS.Enabled && (in.NATS.Subject == "" || strings.ContainsAny(in.NATS.Subject, " *>")) {
		v.add("intake.nats.subject", "%q must be a literal NATS subject", in.NATS.Subject)
	}
	if in.Webhook.Enabled {
		if !configured(in.Webhook.Token) && !configured(in.Webhook.HMACSecret) {
			v.add("intake.webhook", "enabled without a secret: set token or hmac_secret ({file: PATH} or {env: NAME}); the webhook never accepts unauthenticated requests")
		}
		if in.Webhook.Token.IsSet() && len(in.Webhook.Token.Value()) < 16 {
			v.add("intake.webhook.token", "too short: use at least 16 characters")
		}
		if in.Webhook.HMACSecret.IsSet() && len(in.Webhook.HMACSecret.Value()) < 16 {
			v.add("intake.webhook.hmac_secret", "too short: use at least 16 characters")
		}
		if in.Webhook.MaxBodyBytes < 256 || in.Webhook.MaxBodyBytes > 1<<20 {
			v.add("intake.webhook.max_body_bytes", "must be between 256 and 1048576, got %d", in.Webhook.MaxBodyBytes)
		}
	}
	if in.Poller.Enabled {
		positive("intake.poller.interval", in.Poller.Interval)
		positive("intake.poller.quiet_period", in.Poller.QuietPeriod)
		if in.Poller.Lookback < 0 {
			v.add("intake.poller.lookback", "must be 0 (every study) or positive")
		}
	}

	c.Rules = v.compileRules(c)
}

// compileRules turns routing into a rules.Set, reporting each broken rule.
func (v *validator) compileRules(c *Config) *rules.Set {
	r := c.Routing
	set := &rules.Set{}
	if a, err := rules.ParseAction(r.DefaultAction); err != nil {
		v.add("routing.default_action", "%v", err)
	} else {
		set.Default = a
	}
	switch r.Selection.Mode {
	case "one", "":
		set.Selection.Mode = rules.SelectOne
	case "all":
		set.Selection.Mode = rules.SelectAll
	default:
		v.add("routing.selection.mode", "%q is not one of one, all", r.Selection.Mode)
	}
	for i, p := range r.Selection.Prefer {
		pr, err := rules.ParsePreference(p)
		if err != nil {
			v.add(fmt.Sprintf("routing.selection.prefer[%d]", i), "%v", err)
			continue
		}
		set.Selection.Prefer = append(set.Selection.Prefer, pr)
	}
	seen := map[string]int{}
	for i, rc := range r.Rules {
		at := fmt.Sprintf("routing.rules[%d]", i)
		rule := rules.Rule{Name: rc.Name, Priority: rc.Priority}
		if rc.Name == "" {
			v.add(at, "every rule needs a name (it appears in logs and result events)")
		} else if j, dup := seen[rc.Name]; dup {
			v.add(at+".name", "rule name %q is already used by routing.rules[%d]", rc.Name, j)
		}
		seen[rc.Name] = i
		a, err := rules.ParseAction(rc.Action)
		if err != nil {
			v.add(at+".action", "%v", err)
		}
		rule.Action = a
		if rc.Priority != "" && !slices.Contains(c.Queue.Priorities, rc.Priority) {
			v.add(at+".priority", "%q is not in queue.priorities %v", rc.Priority, c.Queue.Priorities)
		}
		m := rc.Match
		rule.Match = rules.Match{
			Modality:          m.Modality,
			BodyPartExamined:  m.BodyPartExamined,
			ImageTypeContains: m.ImageType.Contains,
			ImageTypeExcludes: m.ImageType.Excludes,
			Manufacturer:      m.Manufacturer,
			Source:            m.Source,
		}
		pattern := func(key, expr string) *rules.Pattern {
			if expr == "" {
				return nil
			}
			p, err := rules.NewPattern(expr)
			if err != nil {
				v.add(at+".match."+key, "%v", err)
			}
			return p
		}
		rule.Match.SeriesDescription = pattern("series_description", m.SeriesDescription)
		rule.Match.ProtocolName = pattern("protocol_name", m.ProtocolName)
		if pr, err := rules.ParsePresence(m.ContrastBolusAgent); err != nil {
			v.add(at+".match.contrast_bolus_agent", "%v", err)
		} else {
			rule.Match.ContrastBolusAgent = pr
		}
		numRange := func(key string, nr *NumRange) *rules.Range {
			if nr == nil {
				return nil
			}
			if nr.Min == nil && nr.Max == nil {
				v.add(at+".match."+key, "give min, max or both")
			}
			if nr.Min != nil && nr.Max != nil && *nr.Min > *nr.Max {
				v.add(at+".match."+key, "min %g is greater than max %g", *nr.Min, *nr.Max)
			}
			if (nr.Min != nil && *nr.Min < 0) || (nr.Max != nil && *nr.Max < 0) {
				v.add(at+".match."+key, "bounds must not be negative")
			}
			return &rules.Range{Min: nr.Min, Max: nr.Max}
		}
		rule.Match.SliceThickness = numRange("slice_thickness", m.SliceThickness)
		rule.Match.NumberOfSlices = numRange("number_of_slices", m.NumberOfSlices)
		set.Rules = append(set.Rules, rule)
	}
	return set
}
