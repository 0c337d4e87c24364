package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newRulesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "Check routing rules (dry run)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("rules: not implemented yet")
		},
	}
}
