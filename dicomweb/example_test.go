package dicomweb_test

import (
	"context"
	"io"
	"os"

	"github.com/mhpnet/node/dicomweb"
	"go.uber.org/zap"
)

// The worker's use: find the CT series of a study, stream one to disk
// (or to the DICOM reader) part by part, and store a SEG.
func Example() {
	ctx := context.Background()
	c, err := dicomweb.New(dicomweb.Options{
		BaseURL:   "https://pacs.example.org/dicom-web",
		UserAgent: "mhpnet-node/1.0.0",
		Auth:      dicomweb.Auth{BearerTokenFile: "/run/secrets/pacs-token"},
		TLS:       dicomweb.TLS{CAFile: "/etc/mhpnet/pacs-ca.pem"},
		Logger:    zap.NewNop(),
	})
	if err != nil {
		return
	}
	const study = "1.2.3"
	err = c.EachSeries(ctx, study, dicomweb.Query{Match: map[string]string{"Modality": "CT"}, Limit: 100}, func(s dicomweb.Series) error {
		res, err := c.RetrieveSeries(ctx, study, s.SeriesInstanceUID, func(p *dicomweb.Part) error {
			f, err := os.CreateTemp("", "slice-*.dcm")
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(f, p) // one instance at a time, never the series
			return err
		})
		_ = res.TransferSyntax // "*" after a fallback: decode locally
		return err
	})
	if err != nil {
		return
	}
	seg, err := dicomweb.FileUpload("/tmp/seg.dcm")
	if err != nil {
		return
	}
	if _, err := c.Store(ctx, study, seg); err != nil {
		return // a *StoreError says which instance failed and why
	}
}
