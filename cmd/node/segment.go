package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newSegmentCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "segment",
		Short: "Segment one CT series from a folder and write a DICOM SEG",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("segment: not implemented yet")
		},
	}
}
