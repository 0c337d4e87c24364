package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect",
		Short: "List the DICOM series in a folder, their geometry, and what would be refused and why",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("inspect: not implemented yet")
		},
	}
}
