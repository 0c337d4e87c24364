// Package config reads node.yaml: defaults, then the file, then environment
// overrides (MHPNET_<SECTION>_<KEY>), then secrets from files or environment
// variables, then validation that reports every problem at once with its file
// and line, and finally the routing rules compiled into a rules.Set. It is
// read by cmd/node, which maps each section onto the Options of the package
// that uses it (pipeline, dicomweb, segmentation), so those packages never
// depend on the file format.
//
// Every key is documented in node.example.yaml at the repository root.
package config

import (
	"time"

	"github.com/mhpnet/node/pipeline/rules"
)

// EnvPrefix starts every environment override: MHPNET_PACS_URL overrides
// pacs.url, MHPNET_QUEUE_CONCURRENCY overrides queue.concurrency.
const EnvPrefix = "MHPNET_"

// Config is the whole node.yaml.
type Config struct {
	Node    Node    `yaml:"node"`
	HTTP    HTTP    `yaml:"http"`
	PACS    PACS    `yaml:"pacs"`
	NATS    NATS    `yaml:"nats"`
	Queue   Queue   `yaml:"queue"`
	Intake  Intake  `yaml:"intake"`
	Model   Model   `yaml:"model"`
	Routing Routing `yaml:"routing"`

	// File is the path the configuration was read from ("" for defaults only).
	File string `yaml:"-"`
	// Rules is Routing compiled; set by Load and Parse.
	Rules *rules.Set `yaml:"-"`
}

// Node holds process-wide settings.
type Node struct {
	// Name identifies this node in logs and result events (default: host name).
	Name string `yaml:"name"`
	// DataDir holds the embedded NATS store and the poller state. A relative
	// path is taken from the directory of the configuration file.
	DataDir string `yaml:"data_dir"`
	// LogFormat is json (default) or console.
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
}

// HTTP is the node's own HTTP listener: webhook, /metrics, /healthz, /readyz.
type HTTP struct {
	Listen string `yaml:"listen"`
	// ShutdownTimeout bounds the graceful shutdown (running job included).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// PACS is the DICOMweb endpoint the node reads from and stores to.
type PACS struct {
	// Name is the source name given to studies found through this PACS.
	Name string `yaml:"name"`
	// URL is the DICOMweb root, e.g. http://orthanc:8042/dicom-web.
	URL                string        `yaml:"url"`
	Auth               Auth          `yaml:"auth"`
	CABundle           string        `yaml:"ca_bundle"`
	ClientCert         string        `yaml:"client_cert"`
	ClientKey          string        `yaml:"client_key"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	Timeout            time.Duration `yaml:"timeout"`
	MaxRetries         int           `yaml:"max_retries"`
}

// Auth is the PACS authentication.
type Auth struct {
	// Type is none (default), basic or bearer.
	Type     string `yaml:"type"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	Token    Secret `yaml:"token"`
}

// NATS selects the embedded server or an external one.
type NATS struct {
	// URL of an external NATS (comma-separated for a cluster); empty starts
	// the embedded server.
	URL string `yaml:"url"`
	// Credentials is a .creds file for an external NATS.
	Credentials string `yaml:"credentials"`
	// Token authenticates to an external NATS.
	Token Secret `yaml:"token"`
	// Embedded configures the embedded server.
	Embedded Embedded `yaml:"embedded"`
}

// Embedded configures the embedded NATS server.
type Embedded struct {
	// Listen is host:port for other processes (node jobs, a PACS bridge);
	// empty means in-process only.
	Listen string `yaml:"listen"`
	// StoreDir defaults to <data_dir>/nats.
	StoreDir string `yaml:"store_dir"`
}

// Queue configures the JetStream work queue and the workers.
type Queue struct {
	// Concurrency is the number of jobs this node runs at once.
	Concurrency int `yaml:"concurrency"`
	// Priorities lists the subjects seg.jobs.<priority>, highest first.
	Priorities []string `yaml:"priorities"`
	// DefaultPriority is used when the matching rule names none.
	DefaultPriority string `yaml:"default_priority"`
	// MaxDeliver is the number of attempts before a job is dead-lettered.
	MaxDeliver int `yaml:"max_deliver"`
	// AckWait is how long a job may go without a heartbeat before the
	// server hands it to another worker.
	AckWait time.Duration `yaml:"ack_wait"`
	// Backoff lists the delays before attempt 2, 3, ...; the last repeats.
	Backoff []time.Duration `yaml:"backoff"`
	// DuplicateWindow is how long a job id blocks a second identical job.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// DeadLetterMaxAge is how long dead-lettered jobs are kept.
	DeadLetterMaxAge time.Duration `yaml:"dead_letter_max_age"`
	// ResultsMaxAge is how long result events are kept in their stream.
	ResultsMaxAge time.Duration `yaml:"results_max_age"`
	// JobTimeout bounds one attempt of one job.
	JobTimeout time.Duration `yaml:"job_timeout"`
}

// Intake configures the three ways studies are announced.
type Intake struct {
	NATS    NATSIntake `yaml:"nats"`
	Webhook Webhook    `yaml:"webhook"`
	Poller  Poller     `yaml:"poller"`
}

// NATSIntake is the dicom.study.arrived subject.
type NATSIntake struct {
	Enabled bool   `yaml:"enabled"`
	Subject string `yaml:"subject"`
}

// Webhook is POST /v1/events/study.
type Webhook struct {
	Enabled bool `yaml:"enabled"`
	// Token is the shared bearer token (Authorization: Bearer ...).
	Token Secret `yaml:"token"`
	// HMACSecret verifies X-Signature-256: sha256=<hex HMAC-SHA256 of the body>.
	HMACSecret Secret `yaml:"hmac_secret"`
	// MaxBodyBytes bounds the request body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Poller is the QIDO-RS poller.
type Poller struct {
	Enabled bool `yaml:"enabled"`
	// Interval between two looks at the PACS.
	Interval time.Duration `yaml:"interval"`
	// QuietPeriod is how long a study's instance count must stay unchanged.
	QuietPeriod time.Duration `yaml:"quiet_period"`
	// Lookback limits the QIDO query to studies whose StudyDate is at most
	// this old; 0 looks at every study.
	Lookback time.Duration `yaml:"lookback"`
	// Backfill announces the studies already in the PACS on the very first
	// start; otherwise they are recorded as seen.
	Backfill bool `yaml:"backfill"`
}

// Model selects the MHP-Net model.
type Model struct {
	// Path to a model file; empty uses the model embedded in the binary.
	Path string `yaml:"path"`
}

// Routing holds the routing rules.
type Routing struct {
	// DefaultAction applies when no rule matches: skip (default) or process.
	DefaultAction string    `yaml:"default_action"`
	Selection     Selection `yaml:"selection"`
	Rules         []Rule    `yaml:"rules"`
}

// Selection says what happens when several series of a study qualify.
type Selection struct {
	// Mode is one (default) or all.
	Mode string `yaml:"mode"`
	// Prefer lists criteria: contrast, axial, thinnest, most_slices.
	Prefer []string `yaml:"prefer"`
}

// Rule is one routing rule as written.
type Rule struct {
	Name     string `yaml:"name"`
	Action   string `yaml:"action"`
	Priority string `yaml:"priority"`
	Match    Match  `yaml:"match"`
}

// Match holds a rule's conditions as written; see rules.Match.
type Match struct {
	Modality           []string  `yaml:"modality"`
	BodyPartExamined   []string  `yaml:"body_part_examined"`
	SeriesDescription  string    `yaml:"series_description"`
	ProtocolName       string    `yaml:"protocol_name"`
	ImageType          ImageType `yaml:"image_type"`
	ContrastBolusAgent string    `yaml:"contrast_bolus_agent"`
	SliceThickness     *NumRange `yaml:"slice_thickness"`
	NumberOfSlices     *NumRange `yaml:"number_of_slices"`
	Manufacturer       []string  `yaml:"manufacturer"`
	Source             []string  `yaml:"source"`
}

// ImageType holds the ImageType conditions.
type ImageType struct {
	Contains []string `yaml:"contains"`
	Excludes []string `yaml:"excludes"`
}

// NumRange is an inclusive range; a missing bound is open.
type NumRange struct {
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// Default returns the configuration used for every key the file leaves out.
func Default() *Config {
	return &Config{
		Node: Node{DataDir: "data", LogFormat: "json", LogLevel: "info"},
		HTTP: HTTP{Listen: "127.0.0.1:8080", ShutdownTimeout: 2 * time.Minute},
		PACS: PACS{Name: "pacs", Auth: Auth{Type: "none"}, Timeout: 2 * time.Minute, MaxRetries: 4},
		NATS: NATS{Embedded: Embedded{Listen: "127.0.0.1:4222"}},
		Queue: Queue{
			Concurrency:      1,
			Priorities:       []string{"high", "normal", "low"},
			DefaultPriority:  "normal",
			MaxDeliver:       5,
			AckWait:          time.Minute,
			Backoff:          []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute},
			DuplicateWindow:  24 * time.Hour,
			DeadLetterMaxAge: 30 * 24 * time.Hour,
			ResultsMaxAge:    7 * 24 * time.Hour,
			JobTimeout:       30 * time.Minute,
		},
		Intake: Intake{
			NATS:    NATSIntake{Enabled: true, Subject: "dicom.study.arrived"},
			Webhook: Webhook{MaxBodyBytes: 64 << 10},
			Poller:  Poller{Interval: 30 * time.Second, QuietPeriod: time.Minute},
		},
		Routing: Routing{DefaultAction: "skip", Selection: Selection{Mode: "one", Prefer: []string{"contrast", "axial", "thinnest"}}},
	}
}
