package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhpnet/node/config"
	"github.com/mhpnet/node/pipeline"
)

type jobsFlags struct {
	commonFlags
	limit int
	json  bool
}

func newJobsCmd() *cobra.Command {
	var f jobsFlags
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List, show and retry queued and dead-lettered jobs; print results",
		Long: `jobs inspects the node's JetStream work queue and dead-letter stream.

It connects to nats.url, or to the embedded server of a running 'node serve'
(nats.embedded.listen); when no node is running it opens the embedded store in
data_dir itself. Job ids are SeriesInstanceUID@ModelVersion; a series UID alone,
or dead:<seq> / queued:<seq>, also work.`,
	}
	f.register(cmd.PersistentFlags())
	cmd.PersistentFlags().IntVar(&f.limit, "limit", 1000, "read at most this many messages per stream")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	cmd.AddCommand(
		&cobra.Command{Use: "list", Short: "List queued and dead-lettered jobs", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return withQueue(cmd.Context(), f, func(ctx context.Context, q *pipeline.Queue) error {
					return jobsList(ctx, cmd.OutOrStdout(), q, f)
				})
			}},
		&cobra.Command{Use: "show ID", Short: "Show one job: where it is, its attempts and last error", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withQueue(cmd.Context(), f, func(ctx context.Context, q *pipeline.Queue) error {
					return jobsShow(ctx, cmd.OutOrStdout(), q, args[0], f)
				})
			}},
		newJobsResultsCmd(&f),
		&cobra.Command{Use: "retry ID", Short: "Queue a dead-lettered job again", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withQueue(cmd.Context(), f, func(ctx context.Context, q *pipeline.Queue) error {
					j, err := q.Retry(ctx, args[0], f.limit)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "job %s queued again on %s.%s (retry %d)\n", j.ID, pipeline.SubjectJobs, j.Priority, j.Retry)
					return nil
				})
			}},
	)
	return cmd
}

// withQueue opens the queue the way the configuration says, runs f and
// closes it.
func withQueue(ctx context.Context, f jobsFlags, fn func(context.Context, *pipeline.Queue) error) error {
	if f.limit < 1 {
		// 0 or less would read nothing and report an empty queue.
		return usageErrorf("jobs: --limit must be at least 1, got %d", f.limit)
	}
	cfg, err := loadConfig(f.config)
	if err != nil {
		return err
	}
	bus, err := jobsBus(ctx, cfg)
	if err != nil {
		return withCode(ExitUnavailable, err)
	}
	defer bus.Close()
	q, err := pipeline.NewQueue(ctx, bus, queueOptions(cfg))
	if err != nil {
		return withCode(ExitUnavailable, err)
	}
	err = fn(ctx, q)
	if errors.Is(err, pipeline.ErrJobNotFound) {
		return withCode(ExitFailure, err)
	}
	return err
}

// jobsBus reaches the queue: an external NATS, the listener of a running
// node's embedded server, or (no node running) the embedded store itself.
func jobsBus(ctx context.Context, cfg *config.Config) (*pipeline.Bus, error) {
	o := natsOptions(cfg)
	if o.URL != "" {
		return pipeline.ConnectNATS(ctx, o)
	}
	if o.Listen != "" {
		ext := o
		ext.URL = "nats://" + o.Listen
		if b, err := pipeline.ConnectNATS(ctx, ext); err == nil {
			return b, nil
		}
	}
	o.Listen = "" // in-process only: do not take the port of a node starting meanwhile
	return pipeline.ConnectNATS(ctx, o)
}

func jobsList(ctx context.Context, w io.Writer, q *pipeline.Queue, f jobsFlags) error {
	queued, err := q.Queued(ctx, f.limit)
	if err != nil {
		return err
	}
	dead, err := q.Dead(ctx, f.limit)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(w, map[string]any{"queued": queued, "dead": dead})
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tJOB ID\tSTUDY\tPRIORITY\tATTEMPTS\tSINCE\tLAST ERROR")
	now := time.Now()
	for _, j := range queued {
		fmt.Fprintf(tw, "queued\t%s\t%s\t%s\t-\t%s\t\n", j.Job.ID, j.Job.StudyInstanceUID, j.Job.Priority, age(now, j.Stored))
	}
	for _, d := range dead {
		// LAST ERROR is the last column (nothing to align after it): it is
		// cut only against runaway messages, since the part a person acts on
		// (missing slices, an undecodable syntax) comes after the stage and
		// series prefix and would be lost at a terminal width.
		fmt.Fprintf(tw, "dead\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Job.ID, d.Job.StudyInstanceUID, d.Job.Priority, d.Attempts,
			age(now, d.FailedAt), truncate(d.LastError, maxListedError))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d queued (waiting, running or waiting to retry), %d dead-lettered\n", len(queued), len(dead))
	return nil
}

func jobsShow(ctx context.Context, w io.Writer, q *pipeline.Queue, id string, f jobsFlags) error {
	st, err := q.Show(ctx, id, f.limit)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(w, st)
	}
	if st.Queued != nil {
		j := st.Queued.Job
		fmt.Fprintf(w, "queued (stream sequence %d, subject %s) since %s\n", st.Queued.Sequence, st.Queued.Subject, st.Queued.Stored.Format(time.RFC3339))
		printJob(w, j)
	}
	for _, d := range st.Dead {
		fmt.Fprintf(w, "dead-lettered (dead:%d) at %s after %d attempt(s), stage %q, permanent %v, node %s\n",
			d.Sequence, d.FailedAt.Format(time.RFC3339), d.Attempts, d.Stage, d.Permanent, d.Node)
		printJob(w, d.Job)
		fmt.Fprintf(w, "  last error: %s\n  to run it again: node jobs retry %s\n", d.LastError, d.Job.ID)
	}
	return nil
}

func printJob(w io.Writer, j pipeline.Job) {
	fmt.Fprintf(w, "  job %s\n  study %s\n  series %s\n  source %s, model %s, priority %s, rule %q, intake %s, retry %d\n  queued because: %s\n",
		j.ID, j.StudyInstanceUID, j.SeriesInstanceUID, j.Source, j.ModelVersion, j.Priority, j.Rule, j.Intake, j.Retry, j.Reason)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

// maxListedError bounds the LAST ERROR column of `node jobs list`.
const maxListedError = 600

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func newJobsResultsCmd(f *jobsFlags) *cobra.Command {
	var study string
	cmd := &cobra.Command{
		Use:   "results [--study UID]",
		Short: "Print the result events kept by the node: outcome, SEG, liver volume, tumors, timings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if study != "" && !pipeline.ValidUID(study) {
				// A typo would otherwise print "0 result(s)" as if the study had none.
				return usageErrorf("jobs results: --study %q is not a DICOM UID", study)
			}
			return withQueue(cmd.Context(), *f, func(ctx context.Context, q *pipeline.Queue) error {
				rs, err := q.Results(ctx, study, f.limit)
				if err != nil {
					return err
				}
				if f.json {
					return writeJSON(cmd.OutOrStdout(), rs)
				}
				printResults(cmd.OutOrStdout(), rs)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&study, "study", "", "only the results of this StudyInstanceUID")
	return cmd
}

// printResults writes one block per result event, for people.
func printResults(w io.Writer, rs []pipeline.Result) {
	for _, r := range rs {
		fmt.Fprintf(w, "%s  %s  series %s\n", r.Time.Format(time.RFC3339), r.Outcome, r.SeriesInstanceUID)
		if r.Reason != "" {
			fmt.Fprintf(w, "  reason: %s\n", r.Reason)
		}
		if r.SEG != nil {
			fmt.Fprintf(w, "  SEG series %s\n", r.SEG.SeriesInstanceUID)
		}
		if m := r.Measurements; m != nil {
			fmt.Fprintf(w, "  liver %.0f mL, %d tumor(s)\n", m.LiverVolumeML, len(m.Tumors))
			for i, t := range m.Tumors {
				fmt.Fprintf(w, "    tumor %d: %.1f mL, longest axial diameter %.1f mm, centroid LPS (%.1f, %.1f, %.1f) mm\n",
					i+1, t.VolumeML, t.DiameterMM, t.CentroidLPS[0], t.CentroidLPS[1], t.CentroidLPS[2])
			}
			for _, fl := range m.Flags {
				fmt.Fprintf(w, "  flag: %s\n", fl)
			}
		}
		if t, ok := r.Timings["total"]; ok {
			fmt.Fprintf(w, "  %.1f s in total (%d slices)\n", t, r.Instances)
		}
	}
	fmt.Fprintf(w, "%d result(s)\n", len(rs))
}
