package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mhpnet/node/config"
	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/dicomweb"
	"github.com/mhpnet/node/pipeline"
	"github.com/mhpnet/node/pipeline/stages"
	"github.com/mhpnet/node/segmentation"
)

// commonFlags are shared by serve, rules and jobs.
type commonFlags struct {
	config    string
	logFormat string
	logLevel  string
}

func (f *commonFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.config, "config", "node.yaml", "configuration file (every key: node.example.yaml)")
	fl.StringVar(&f.logFormat, "log-format", "", "json or console (default: node.log_format)")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default: node.log_level)")
}

// loadConfig reads the configuration; a bad file exits with ExitUsage and
// lists every problem with file:line.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	return cfg, nil
}

// newLogger builds the zap logger: JSON for log collectors, console for
// people. Patient names and IDs are never passed to it.
func newLogger(format, level string, w io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("log level %q: use debug, info, warn or error", level)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey, ec.EncodeTime, ec.EncodeDuration = "time", zapcore.ISO8601TimeEncoder, zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, usageErrorf("log format %q: use json or console", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}

func (f *commonFlags) logger(cfg *config.Config, w io.Writer) (*zap.Logger, error) {
	format, level := cfg.Node.LogFormat, cfg.Node.LogLevel
	if f.logFormat != "" {
		format = f.logFormat
	}
	if f.logLevel != "" {
		level = f.logLevel
	}
	return newLogger(format, level, w)
}

// natsOptions maps the nats section; the embedded store defaults to
// <data_dir>/nats.
func natsOptions(cfg *config.Config) pipeline.NATSOptions {
	store := cfg.NATS.Embedded.StoreDir
	if store == "" {
		store = filepath.Join(cfg.Node.DataDir, "nats")
	}
	return pipeline.NATSOptions{URL: cfg.NATS.URL, Credentials: cfg.NATS.Credentials, Token: cfg.NATS.Token.Value(),
		StoreDir: store, Listen: cfg.NATS.Embedded.Listen, Name: nodeName(cfg)}
}

func nodeName(cfg *config.Config) string {
	if cfg.Node.Name != "" {
		return cfg.Node.Name
	}
	h, err := os.Hostname()
	if err != nil {
		return "node"
	}
	return h
}

// queueOptions maps the queue section.
func queueOptions(cfg *config.Config) pipeline.QueueOptions {
	q := cfg.Queue
	subj := ""
	if cfg.Intake.NATS.Enabled {
		subj = cfg.Intake.NATS.Subject
	}
	return pipeline.QueueOptions{Priorities: q.Priorities, DefaultPriority: q.DefaultPriority, IntakeSubject: subj,
		MaxDeliver: q.MaxDeliver, AckWait: q.AckWait, Backoff: q.Backoff, DuplicateWindow: q.DuplicateWindow,
		DeadLetterMaxAge: q.DeadLetterMaxAge, ResultsMaxAge: q.ResultsMaxAge}
}

// pacsClient maps the pacs section onto a DICOMweb client.
func pacsClient(cfg *config.Config, log *zap.Logger) (*dicomweb.Client, error) {
	p := cfg.PACS
	o := dicomweb.Options{
		BaseURL: p.URL, UserAgent: "mhpnet-node/" + Version, Timeout: p.Timeout, Logger: log, // dicomweb adds its component
		TLS:   dicomweb.TLS{CAFile: p.CABundle, CertFile: p.ClientCert, KeyFile: p.ClientKey, InsecureSkipVerify: p.InsecureSkipVerify},
		Retry: dicomweb.Retry{MaxAttempts: p.MaxRetries + 1},
	}
	switch p.Auth.Type {
	case "basic":
		o.Auth = dicomweb.Auth{Username: p.Auth.Username, Password: p.Auth.Password.Value()}
	case "bearer":
		o.Auth = dicomweb.Auth{BearerToken: p.Auth.Token.Value()}
	}
	c, err := dicomweb.New(o)
	if err != nil {
		return nil, withCode(ExitUsage, fmt.Errorf("pacs: %w", err))
	}
	return c, nil
}

// loadModel returns the configured or embedded model.
func loadModel(cfg *config.Config) (*stages.Model, error) {
	var m *segmentation.Model
	var err error
	if cfg.Model.Path != "" {
		m, err = segmentation.LoadModel(cfg.Model.Path)
	} else {
		m, err = segmentation.DefaultModel()
	}
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return stages.NewModel(m)
}

func newServeCmd() *cobra.Command {
	var f commonFlags
	cmd := &cobra.Command{
		Use:   "serve [--config node.yaml]",
		Short: "Run the node: intake (NATS, webhook, QIDO poller), routing rules, queue and workers",
		Long: `serve runs the node until SIGTERM or SIGINT: it hears of new studies (NATS
subject dicom.study.arrived, the webhook POST /v1/events/study, the QIDO-RS
poller), applies the routing rules to each series, queues one job per selected
series in NATS JetStream (embedded by default, with its store under data_dir),
and segments each with MHP-Net, storing the DICOM SEG in the PACS with STOW-RS
and publishing the result on seg.results.ok / .failed / .skipped.

It prints the effective configuration (secrets masked) at start-up and serves
/metrics, /healthz and /readyz on http.listen.

Exit codes: 0 clean shutdown; 2 bad configuration (every problem listed with
file:line); 4 NATS unavailable at start-up or the HTTP port taken. A PACS
that does not answer at start-up is logged as a warning and reported by
/readyz; jobs wait for it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// runServe wires the node and runs it until ctx is cancelled.
func runServe(ctx context.Context, stdout, stderr io.Writer, f commonFlags) error {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return err
	}
	log, err := f.logger(cfg, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	name := nodeName(cfg)
	log = log.With(zap.String("node", name))
	masked, err := cfg.Masked()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# node %s: effective configuration from %s (secrets masked)\n%s", buildVersion(), cfg.File, masked)

	if err := os.MkdirAll(cfg.Node.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	model, err := loadModel(cfg)
	if err != nil {
		return err
	}
	mv := model.Version()
	log.Info("model loaded", zap.String("model_version", mv))
	client, err := pacsClient(cfg, log)
	if err != nil {
		return err
	}
	pacs := stages.NewPACS(client, readerOptions())

	// unavailable reports a start-up failure to reach NATS or the PACS,
	// unless the node was told to stop meanwhile (SIGTERM during start-up):
	// the cancelled context failed the step, and that is a clean stop.
	unavailable := func(err error) error {
		if ctx.Err() != nil {
			log.Info("stopped during start-up")
			return nil
		}
		return withCode(ExitUnavailable, err)
	}
	bus, err := pipeline.ConnectNATS(ctx, natsOptions(cfg))
	if err != nil {
		return unavailable(err)
	}
	// Closed last, after the workers: see the shutdown sequence below.
	defer bus.Close()
	if bus.Server != nil {
		log.Info("embedded NATS started", zap.String("url", bus.ClientURL()), zap.String("store", natsOptions(cfg).StoreDir))
	} else {
		log.Info("connected to NATS", zap.String("url", bus.ClientURL()))
	}
	q, err := pipeline.NewQueue(ctx, bus, queueOptions(cfg))
	if err != nil {
		return unavailable(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), q.Collector())
	metrics := pipeline.NewMetrics(reg)

	router, err := pipeline.NewRouter(q, pacs, cfg.Rules, pipeline.RouterOptions{Node: name, Source: cfg.PACS.Name, ModelVersion: mv}, log, metrics)
	if err != nil {
		return err
	}
	worker, err := pipeline.NewWorker(q, pipeline.Stages[*dicom.Series]{
		Finder: pacs, Fetcher: pacs, Segmenter: model, Encoder: stages.Encoder{Options: seg.Options{ModelVersion: mv}}, Storer: pacs,
	}, pipeline.WorkerOptions{
		Node: name, ModelVersion: mv, Concurrency: cfg.Queue.Concurrency, JobTimeout: cfg.Queue.JobTimeout,
		DrainTimeout: cfg.HTTP.ShutdownTimeout,
		// Data refused (by the reader, the SEG encoder or the model) will be
		// refused again: dead-letter at once, with the reason, instead of
		// retrying it for queue.backoff's hours.
		IsPermanent: isRefusal,
	}, log, metrics)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("GET /healthz", pipeline.HealthHandler())
	mux.Handle("GET /readyz", pipeline.ReadyHandler(
		pipeline.Check{Name: "nats", Fn: bus.Ping},
		pipeline.Check{Name: "pacs", Fn: pacs.Ping},
	))
	if wh := cfg.Intake.Webhook; wh.Enabled {
		hook, err := pipeline.NewWebhook(q, pipeline.WebhookOptions{Token: wh.Token.Value(), HMACSecret: wh.HMACSecret.Value(),
			MaxBodyBytes: wh.MaxBodyBytes, Source: cfg.PACS.Name}, log, metrics)
		if err != nil {
			return withCode(ExitUsage, err)
		}
		mux.Handle(pipeline.WebhookPath, hook)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return withCode(ExitUnavailable, fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10}

	// Intake (HTTP, poller, router) and work (workers, dead-letter watcher)
	// run under separate contexts so that they stop in order.
	intakeCtx, stopIntake := context.WithCancel(context.WithoutCancel(ctx))
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIntake()
	defer stopWork()
	var intake, work sync.WaitGroup
	run := func(wg *sync.WaitGroup, what string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				log.Error(what+" stopped", zap.Error(err))
			}
		}()
	}
	run(&intake, "http server", func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	run(&intake, "router", func() error { return router.Run(intakeCtx) })
	// The PACS is not required to start (it may come back; /readyz reports
	// it), but a wrong pacs.url must not go unnoticed behind "node ready".
	run(&intake, "PACS check", func() error {
		if err := pacs.Ping(intakeCtx); err != nil && intakeCtx.Err() == nil {
			log.Warn("PACS not reachable at start-up; jobs wait until it is, /readyz reports it",
				zap.String("pacs", cfg.PACS.URL), zap.Error(err))
		}
		return nil
	})
	if p := cfg.Intake.Poller; p.Enabled {
		poller, err := pipeline.NewPoller(ctx, bus, pacs, q, pipeline.PollerOptions{Source: cfg.PACS.Name, Interval: p.Interval,
			QuietPeriod: p.QuietPeriod, Lookback: p.Lookback, Backfill: p.Backfill}, log, metrics)
		if err != nil {
			return unavailable(err)
		}
		run(&intake, "poller", func() error { return poller.Run(intakeCtx) })
	}
	run(&work, "worker", func() error { return worker.Run(workCtx) })
	run(&work, "dead-letter watcher", func() error {
		return q.WatchMaxDeliveries(workCtx, func(d pipeline.DeadJob) {
			log.Error("job dead-lettered after max deliveries without a result", zap.String("job_id", d.Job.ID),
				zap.String("study_uid", d.Job.StudyInstanceUID), zap.String("series_uid", d.Job.SeriesInstanceUID), zap.Int("attempts", d.Attempts))
		})
	})
	log.Info("node ready", zap.String("http", ln.Addr().String()), zap.String("model_version", mv),
		zap.Bool("webhook", cfg.Intake.Webhook.Enabled), zap.Bool("poller", cfg.Intake.Poller.Enabled),
		zap.Bool("nats_intake", cfg.Intake.NATS.Enabled), zap.Int("concurrency", cfg.Queue.Concurrency))

	<-ctx.Done()
	log.Info("shutting down", zap.Duration("timeout", cfg.HTTP.ShutdownTimeout))
	// Shutdown order:
	// 1. Stop intake first (webhook, poller, router), so no new study is
	//    accepted that this node would then abandon; an event already stored
	//    in JetStream stays there for the next start or another node.
	// 2. Drain the workers: a running job gets the shutdown timeout to finish
	//    (store its SEG, publish its result, ack), else it is cancelled and
	//    handed back (Nak) for another node or the next start.
	// 3. Close NATS last (deferred bus.Close): the workers' final acks, naks
	//    and result events travel over it, and the embedded server must flush
	//    its file store. Closing it earlier would lose the ack of a finished
	//    job (it would run again) or the hand-back of an interrupted one
	//    (it would wait a full ack_wait).
	stopIntake()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	intake.Wait()
	stopWork()
	work.Wait()
	log.Info("stopped")
	return nil
}
