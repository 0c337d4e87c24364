package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newJobsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "jobs",
		Short: "List, show and retry queued and dead-lettered jobs",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("jobs: not implemented yet")
		},
	}
}
