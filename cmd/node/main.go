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
	"strings"
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
	return exitCode(err)
}

// exitCode maps the error of a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
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
	strictArgs(root)
	return root
}

// strictArgs makes every mistake in the positional arguments of c and its
// subcommands a usage error (exit 2). Without it cobra exits 1 on a wrong
// argument count or an unknown command, and a command group (node jobs,
// node rules) given an unknown subcommand prints its help and exits 0, so
// a script cannot tell a typo from success.
func strictArgs(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.DisableFlagsInUseLine = true // still shown as "node jobs [command]"
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2 // cobra's own default
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
			}
			return usageErrorf("%s (see '%s --help')", msg, cmd.CommandPath())
		}
	} else if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageErrorf("%v (see '%s --help')", err, cmd.CommandPath())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		strictArgs(sub)
	}
}
