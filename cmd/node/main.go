// Command node is the MHP-Net PACS node: it watches a PACS for new
// contrast-enhanced CT series, segments the liver and liver tumors with
// MHP-Net and stores the result back as a DICOM Segmentation.
//
// Subcommands: serve, segment, train, eval, inspect, rules, jobs, version.
// Exit codes are stable for scripts; see exitcode.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line and maps the outcome to an exit code.
func run(ctx context.Context, args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(os.Stderr, "node: %v\n", err)
	var ce *exitError
	if errors.As(err, &ce) {
		return ce.code
	}
	return classify(err)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "node",
		Short: "MHP-Net PACS node: liver and liver-tumor segmentation of CT, stored back as DICOM SEG",
		Long: `node watches a PACS for new contrast-enhanced CT series, segments the liver and
every liver tumor with MHP-Net, and stores the result in the PACS as a DICOM
Segmentation (SEG) that references the source series.

Exit codes: 0 success, 1 failure, 2 usage or configuration error,
3 input refused (the DICOM data cannot be processed; the message says why),
4 a required service (PACS, NATS) is unavailable.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newSegmentCmd(),
		newTrainCmd(),
		newEvalCmd(),
		newInspectCmd(),
		newRulesCmd(),
		newJobsCmd(),
		newVersionCmd(),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see '%s --help')", err, c.CommandPath())
	})
	return root
}
