package dicomweb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/textproto"
	"strconv"
	"strings"
)

// Multipart parsing limits: they bound memory and time on hostile input.
const (
	multipartBufSize  = 64 << 10 // read buffer; a delimiter line must fit
	maxPreambleBytes  = 64 << 10 // text before the first delimiter
	maxPartHeaderSize = 16 << 10 // all header lines of one part
	maxBoundaryLen    = 200      // RFC 2046 allows 70; some servers exceed it
)

// MultipartReader reads a multipart/related body (RFC 2387) part by part,
// as a stream: only a 64 KiB window is buffered, so a 600-slice series is
// never held in memory.
//
// It is lenient where real WADO-RS bodies differ from RFC 2046, and each
// leniency is one that cannot be mistaken for data: a preamble before the
// first delimiter, parts without headers, a delimiter not preceded by CRLF
// (or preceded by a bare LF), transport padding after a delimiter, and a
// missing closing "--" when the body ends (or ends in white space) right
// after the last delimiter. A delimiter must be followed by "--", white
// space, a line break or the end of the body; "--boundaryX" inside data is
// data. A part that ends before its Content-Length, or a body that ends
// before a delimiter, is an error (ErrTruncated).
type MultipartReader struct {
	br      *bufio.Reader
	dash    []byte // "--" + boundary
	part    *Part
	index   int
	started bool
	done    bool
	srcErr  error // sticky error of the source (io.EOF at its end)
	err     error // sticky parse error
}

// NewMultipartReader reads the body r whose boundary parameter is
// boundary.
func NewMultipartReader(r io.Reader, boundary string) (*MultipartReader, error) {
	if boundary == "" || len(boundary) > maxBoundaryLen || strings.ContainsAny(boundary, "\r\n") {
		return nil, &MultipartError{Part: -1, Reason: fmt.Sprintf("unusable boundary %q (1 to %d characters, no line break)", boundary, maxBoundaryLen)}
	}
	return &MultipartReader{br: bufio.NewReaderSize(r, multipartBufSize), dash: []byte("--" + boundary)}, nil
}

// BoundaryFromContentType checks that a Content-Type is multipart/related
// (or another multipart type) and returns its boundary parameter.
func BoundaryFromContentType(contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		// lenient: servers write type=application/dicom unquoted, which
		// RFC 2045 forbids ('/' is a tspecial); read the parameters by hand
		mt, params, err = looseMediaType(contentType)
		if err != nil {
			return "", &MultipartError{Part: -1, Reason: fmt.Sprintf("Content-Type %q: %v", contentType, err)}
		}
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return "", &MultipartError{Part: -1, Reason: fmt.Sprintf("Content-Type is %q, expected multipart/related", mt)}
	}
	b := params["boundary"]
	if b == "" {
		return "", &MultipartError{Part: -1, Reason: fmt.Sprintf("Content-Type %q has no boundary", contentType)}
	}
	return b, nil
}

// looseMediaType splits "type/subtype; k=v; k2="v 2"" without RFC 2045's
// token rules.
func looseMediaType(v string) (string, map[string]string, error) {
	fields := strings.Split(v, ";")
	mt := strings.ToLower(strings.TrimSpace(fields[0]))
	if !strings.Contains(mt, "/") {
		return "", nil, fmt.Errorf("no media type")
	}
	params := map[string]string{}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		params[strings.ToLower(strings.TrimSpace(k))] = val
	}
	return mt, params, nil
}

// Part is one body part. It reads the part's bytes and reaches io.EOF at
// the delimiter that ends it. It is valid until the next NextPart call.
type Part struct {
	// Index counts parts from 0.
	Index int
	// Header holds the part's MIME headers (often empty in hand-made
	// bodies).
	Header textproto.MIMEHeader
	// ContentType is the part's media type without parameters ("" when
	// absent), e.g. "application/dicom".
	ContentType string
	// TransferSyntaxUID is the part's transfer-syntax parameter, when the
	// server gave one.
	TransferSyntaxUID string
	// ContentLength is the declared length, -1 when absent.
	ContentLength int64

	mr     *MultipartReader
	n      int64 // bytes returned
	safe   int   // buffered bytes known to be data
	atEnd  bool  // after safe bytes, skip drop bytes and the part ends
	drop   int
	trunc  bool // after safe bytes, the body ended without a delimiter
	eof    bool
	err    error
	closed bool
}

// Len returns the number of bytes read from the part so far.
func (p *Part) Len() int64 { return p.n }

// NextPart returns the next part, or io.EOF after the last one. It skips
// whatever the caller left unread of the previous part.
func (m *MultipartReader) NextPart() (*Part, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.done {
		return nil, io.EOF
	}
	if m.part != nil && !m.part.eof {
		if _, err := io.Copy(io.Discard, m.part); err != nil {
			m.err = err
			return nil, err
		}
	}
	if m.part != nil && m.part.err != nil {
		m.err = m.part.err
		return nil, m.err
	}
	p, err := m.next()
	if err != nil {
		if err != io.EOF {
			m.err = err
		}
		return nil, err
	}
	m.part = p
	return p, nil
}

func (m *MultipartReader) fail(reason string, trunc bool, err error) error {
	return &MultipartError{Part: m.index, Reason: reason, Truncated: trunc, Err: err}
}

// readLine reads one line (without its line break), failing when it is
// longer than limit.
func (m *MultipartReader) readLine(limit int) ([]byte, error) {
	line, err := m.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > limit {
		return nil, m.fail(fmt.Sprintf("line longer than %d bytes", limit), false, nil)
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			return bytes.TrimRight(line, "\r"), io.EOF
		}
		return nil, err
	}
	return bytes.TrimRight(line[:len(line)-1], "\r"), nil
}

// delimiterKind classifies a line: 0 not a delimiter, 1 delimiter, 2
// close delimiter.
func (m *MultipartReader) delimiterKind(line []byte) int {
	if !bytes.HasPrefix(line, m.dash) {
		return 0
	}
	rest := line[len(m.dash):]
	if bytes.HasPrefix(rest, []byte("--")) {
		return 2
	}
	if len(bytes.Trim(rest, " \t")) != 0 {
		return 0
	}
	return 1
}

func (m *MultipartReader) next() (*Part, error) {
	if !m.started {
		m.started = true
		m.index = 0
		read := 0
		for {
			line, err := m.readLine(maxPreambleBytes)
			read += len(line) + 2
			if k := m.delimiterKind(line); k == 1 {
				if err == io.EOF {
					m.done = true
					return nil, io.EOF
				}
				break
			} else if k == 2 {
				m.done = true
				return nil, io.EOF
			}
			if err == io.EOF {
				// an empty body is a dropped connection; text without our
				// delimiter is a wrong boundary (not worth a retry)
				if read <= 2 && len(line) == 0 {
					return nil, m.fail("empty body", true, io.ErrUnexpectedEOF)
				}
				return nil, m.fail(fmt.Sprintf("no delimiter %q in the body: wrong boundary, or not a multipart body", m.dash), false, nil)
			}
			if err != nil {
				var me *MultipartError
				if errors.As(err, &me) {
					return nil, err
				}
				return nil, m.fail("reading the preamble", true, err)
			}
			if read > maxPreambleBytes {
				return nil, m.fail(fmt.Sprintf("no delimiter %q in the first %d bytes: wrong boundary, or not a multipart body", m.dash, maxPreambleBytes), false, nil)
			}
		}
	} else {
		m.index++
		line, err := m.readLine(multipartBufSize)
		if err != nil && err != io.EOF {
			var me *MultipartError
			if errors.As(err, &me) {
				return nil, err
			}
			return nil, m.fail("reading a delimiter", true, err)
		}
		switch m.delimiterKind(line) {
		case 2:
			m.done = true
			return nil, io.EOF
		case 0:
			return nil, m.fail(fmt.Sprintf("expected delimiter %q, found %q", m.dash, truncateForMessage(line)), false, nil)
		}
		if err == io.EOF { // lenient: the body ends right after a delimiter
			m.done = true
			return nil, io.EOF
		}
	}
	// Lenient end: nothing but white space after the last delimiter.
	if b, err := m.br.Peek(64); err != nil && len(bytes.Trim(b, " \t\r\n")) == 0 {
		if err == io.EOF {
			m.done = true
			return nil, io.EOF
		}
		return nil, m.fail("reading part headers", true, err)
	}
	hdr := textproto.MIMEHeader{}
	size := 0
	var lastKey string
	for {
		line, err := m.readLine(maxPartHeaderSize)
		if err != nil {
			var me *MultipartError
			if errors.As(err, &me) {
				return nil, err
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, m.fail("body ended inside part headers", true, err)
		}
		size += len(line) + 2
		if size > maxPartHeaderSize {
			return nil, m.fail(fmt.Sprintf("part headers longer than %d bytes", maxPartHeaderSize), false, nil)
		}
		if len(line) == 0 {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && lastKey != "" { // folded header line
			vs := hdr[lastKey]
			vs[len(vs)-1] += " " + strings.TrimSpace(string(line))
			continue
		}
		k, v, ok := strings.Cut(string(line), ":")
		if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
			return nil, m.fail(fmt.Sprintf("bad part header line %q", truncateForMessage(line)), false, nil)
		}
		lastKey = textproto.CanonicalMIMEHeaderKey(k)
		hdr.Add(lastKey, strings.TrimSpace(v))
	}
	p := &Part{Index: m.index, Header: hdr, ContentLength: -1, mr: m}
	if ct := hdr.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			// a bad parameter must not lose the part
			mt, params, _ = looseMediaType(ct)
		}
		p.ContentType = mt
		p.TransferSyntaxUID = params["transfer-syntax"]
	}
	if cl := hdr.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return nil, m.fail(fmt.Sprintf("bad Content-Length %q", cl), false, nil)
		}
		p.ContentLength = n
	}
	return p, nil
}

func truncateForMessage(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// findDelimiter looks in buf for the first delimiter. It returns its
// index, or -1; hold is the index from which data may still turn out to
// be a delimiter once more bytes arrive (len(buf) when none).
func (m *MultipartReader) findDelimiter(buf []byte, atEOF bool) (idx, hold int) {
	from := 0
	for {
		i := bytes.Index(buf[from:], m.dash)
		if i < 0 {
			if atEOF {
				return -1, len(buf)
			}
			// a delimiter may begin in the tail: its line break and a
			// prefix of "--boundary"
			return -1, max(0, len(buf)-len(m.dash)-1)
		}
		i += from
		rest := buf[i+len(m.dash):]
		switch {
		case len(rest) == 0:
			if atEOF {
				return i, i
			}
			return -1, i - lineBreakBefore(buf, i)
		case len(rest) == 1 && (rest[0] == '-' || rest[0] == '\r') && !atEOF:
			return -1, i - lineBreakBefore(buf, i)
		case rest[0] == '\n' || rest[0] == ' ' || rest[0] == '\t',
			rest[0] == '\r' && (len(rest) == 1 || rest[1] == '\n'),
			rest[0] == '-' && (len(rest) == 1 || rest[1] == '-'):
			return i, i
		}
		from = i + 1
	}
}

// lineBreakBefore is the length of the CRLF or LF ending at buf[i].
func lineBreakBefore(buf []byte, i int) int {
	switch {
	case i >= 2 && buf[i-2] == '\r' && buf[i-1] == '\n':
		return 2
	case i >= 1 && buf[i-1] == '\n':
		return 1
	}
	return 0
}

// Read reads the part's bytes.
func (p *Part) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if p.eof {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	m := p.mr
	if p.safe == 0 && !p.atEnd && !p.trunc {
		if err := p.scan(); err != nil {
			p.err = err
			return 0, err
		}
	}
	if p.safe > 0 {
		n, _ := m.br.Read(b[:min(len(b), p.safe)]) // served from the buffer
		p.safe -= n
		p.n += int64(n)
		return n, nil
	}
	if p.trunc {
		p.err = m.fail(fmt.Sprintf("body ended after %d bytes of the part, before its delimiter", p.n), true, p.sourceErr())
		return 0, p.err
	}
	// at the delimiter: drop the line break that belongs to it
	if _, err := m.br.Discard(p.drop); err != nil {
		p.err = m.fail("discarding a line break", true, err)
		return 0, p.err
	}
	if p.ContentLength >= 0 && p.n != p.ContentLength {
		p.err = m.fail(fmt.Sprintf("part has %d bytes, its Content-Length says %d", p.n, p.ContentLength), p.n < p.ContentLength, nil)
		return 0, p.err
	}
	p.eof = true
	return 0, io.EOF
}

func (p *Part) sourceErr() error {
	if p.mr.srcErr == nil || p.mr.srcErr == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return p.mr.srcErr
}

// scan fills the buffer until it can tell how many bytes are data.
func (p *Part) scan() error {
	m := p.mr
	for {
		n := m.br.Buffered()
		buf, _ := m.br.Peek(n)
		idx, hold := m.findDelimiter(buf, m.srcErr != nil)
		if idx >= 0 {
			end := idx - lineBreakBefore(buf, idx)
			p.safe, p.atEnd, p.drop = end, true, idx-end
			return nil
		}
		if m.srcErr != nil {
			p.safe, p.trunc = n, true
			return nil
		}
		if hold > 0 {
			p.safe = hold
			return nil
		}
		if n >= m.br.Size() {
			return m.fail("no progress: delimiter longer than the buffer", false, nil)
		}
		if _, err := m.br.Peek(n + 1); err != nil {
			m.srcErr = err
		}
	}
}
