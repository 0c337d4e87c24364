package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newTrainCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "train",
		Short: "Train an MHP-Net model on CT series with liver and tumor masks",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("train: not implemented yet")
		},
	}
}
