package dicomweb

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// authenticator sets the Authorization header of each request.
type authenticator struct {
	basicUser, basicPass string
	token                string
	tokenEnv             string
	file                 *tokenFile
}

func newAuthenticator(a Auth) *authenticator {
	au := &authenticator{basicUser: a.Username, basicPass: a.Password, token: a.BearerToken, tokenEnv: a.BearerTokenEnv}
	if a.BearerTokenFile != "" {
		au.file = &tokenFile{path: a.BearerTokenFile}
	}
	return au
}

func (a *authenticator) apply(req *http.Request) error {
	switch {
	case a.basicUser != "":
		req.SetBasicAuth(a.basicUser, a.basicPass)
	case a.token != "":
		req.Header.Set("Authorization", "Bearer "+a.token)
	case a.tokenEnv != "":
		t := strings.TrimSpace(os.Getenv(a.tokenEnv))
		if t == "" {
			return &OptionsError{Field: "Auth.BearerTokenEnv", Reason: fmt.Sprintf("environment variable %s is empty or unset", a.tokenEnv)}
		}
		if strings.ContainsAny(t, "\r\n") {
			return &OptionsError{Field: "Auth.BearerTokenEnv", Reason: fmt.Sprintf("environment variable %s contains a line break", a.tokenEnv)}
		}
		req.Header.Set("Authorization", "Bearer "+t)
	case a.file != nil:
		t, err := a.file.get()
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+t)
	}
	return nil
}

// tokenFile caches a bearer token file, reading it again when its size or
// modification time changes (a rotated token, e.g. a Kubernetes secret).
type tokenFile struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	token   string
}

// maxTokenBytes bounds a token file: a JWT is a few KiB.
const maxTokenBytes = 64 << 10

func (f *tokenFile) get() (string, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return "", &OptionsError{Field: "Auth.BearerTokenFile", Reason: err.Error()}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.token, nil
	}
	if st.Size() > maxTokenBytes {
		return "", &OptionsError{Field: "Auth.BearerTokenFile", Reason: fmt.Sprintf("%s is %d bytes, more than a token (%d)", f.path, st.Size(), maxTokenBytes)}
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", &OptionsError{Field: "Auth.BearerTokenFile", Reason: err.Error()}
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", &OptionsError{Field: "Auth.BearerTokenFile", Reason: f.path + " is empty"}
	}
	if strings.ContainsAny(t, "\r\n") {
		return "", &OptionsError{Field: "Auth.BearerTokenFile", Reason: f.path + " holds more than one line"}
	}
	f.token, f.modTime, f.size = t, st.ModTime(), st.Size()
	return t, nil
}
