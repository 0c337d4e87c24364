package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSOptions selects an external NATS or the embedded server.
type NATSOptions struct {
	// URL of an external server or cluster (comma-separated); empty starts
	// the embedded server.
	URL string
	// Credentials is a .creds file for an external server.
	Credentials string
	// Token authenticates to an external server.
	Token string
	// StoreDir is the embedded server's JetStream file store.
	StoreDir string
	// Listen is the embedded server's host:port; empty means in-process only
	// (no TCP listener). Port 0 or -1 picks a free port.
	Listen string
	// Name is the client connection name (the node's name).
	Name string
}

// Bus is a NATS connection with JetStream, and the embedded server when the
// node runs one.
type Bus struct {
	// Conn is the core NATS connection.
	Conn *nats.Conn
	// JS is the JetStream API on Conn.
	JS jetstream.JetStream
	// Server is the embedded server, nil with an external NATS.
	Server *server.Server

	closed    chan struct{}
	storeLock *os.File // held while the embedded server owns its store
	closeOnce sync.Once
}

// ErrNATSUnavailable means NATS could not be reached or started.
var ErrNATSUnavailable = errors.New("NATS unavailable")

// ConnectNATS connects to the external server named by opts.URL, or starts
// the embedded server with JetStream file storage under opts.StoreDir and
// connects to it in-process.
func ConnectNATS(ctx context.Context, opts NATSOptions) (*Bus, error) {
	closed := make(chan struct{})
	copts := []nats.Option{
		nats.Name(opts.Name),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
	}
	if opts.URL != "" {
		if opts.Credentials != "" {
			copts = append(copts, nats.UserCredentials(opts.Credentials))
		}
		if opts.Token != "" {
			copts = append(copts, nats.Token(opts.Token))
		}
		copts = append(copts, nats.Timeout(5*time.Second), nats.RetryOnFailedConnect(false))
		nc, err := nats.Connect(opts.URL, copts...)
		if err != nil {
			return nil, fmt.Errorf("%w: connecting to %s: %v", ErrNATSUnavailable, opts.URL, err)
		}
		return newBus(nc, nil, closed)
	}
	if opts.StoreDir == "" {
		return nil, fmt.Errorf("embedded NATS: no store directory")
	}
	lock, err := lockStore(opts.StoreDir)
	if err != nil {
		return nil, err
	}
	unlock := func() { _ = lock.Close() } // closing the file releases the lock
	so := &server.Options{
		ServerName: "mhpnet-node",
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// A job's messages are small (ids and measurements); this bounds
		// what a misbehaving publisher can make the server hold.
		MaxPayload: 1 << 20,
	}
	if opts.Listen == "" {
		so.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(opts.Listen)
		if err != nil {
			unlock()
			return nil, fmt.Errorf("embedded NATS listen %q: %w", opts.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			unlock()
			return nil, fmt.Errorf("embedded NATS listen %q: port: %w", opts.Listen, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		so.Host, so.Port = host, p
	}
	ns, err := server.NewServer(so)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("%w: embedded server: %v", ErrNATSUnavailable, err)
	}
	go ns.Start()
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		unlock()
		return nil, fmt.Errorf("%w: embedded server not ready after %s (is %s in use?)",
			ErrNATSUnavailable, wait, opts.Listen)
	}
	nc, err := nats.Connect("", append(copts, nats.InProcessServer(ns))...)
	if err != nil {
		ns.Shutdown()
		unlock()
		return nil, fmt.Errorf("%w: in-process connection: %v", ErrNATSUnavailable, err)
	}
	b, err := newBus(nc, ns, closed)
	if err != nil {
		unlock()
		return nil, err
	}
	b.storeLock = lock
	return b, nil
}

// lockStore takes an exclusive lock on the JetStream store directory: the
// NATS server does not, and two servers writing one store corrupt it. The
// kernel drops the lock when the process dies, so a crash leaves no stale
// lock behind.
func lockStore(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: embedded store: %v", ErrNATSUnavailable, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "node.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: embedded store: %v", ErrNATSUnavailable, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: the store %s is in use by another node (or by node serve without nats.embedded.listen, which node jobs cannot reach): "+
				"give each node its own data_dir, or share an external NATS (nats.url)", ErrNATSUnavailable, dir)
		}
		return nil, fmt.Errorf("%w: locking the embedded store %s: %v", ErrNATSUnavailable, dir, err)
	}
	return f, nil
}

func newBus(nc *nats.Conn, ns *server.Server, closed chan struct{}) (*Bus, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		if ns != nil {
			ns.Shutdown()
		}
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Bus{Conn: nc, JS: js, Server: ns, closed: closed}, nil
}

// ClientURL returns the URL other processes use to reach this bus: the
// embedded server's listener, or the connected server's URL.
func (b *Bus) ClientURL() string {
	if b.Server != nil {
		if addr := b.Server.Addr(); addr != nil {
			return "nats://" + addr.String()
		}
		return ""
	}
	return b.Conn.ConnectedUrl()
}

// Ping reports whether the connection is up and JetStream answers.
func (b *Bus) Ping(ctx context.Context) error {
	if !b.Conn.IsConnected() {
		return fmt.Errorf("%w: connection %s", ErrNATSUnavailable, b.Conn.Status())
	}
	if _, err := b.JS.AccountInfo(ctx); err != nil {
		return fmt.Errorf("%w: jetstream: %v", ErrNATSUnavailable, err)
	}
	return nil
}

// Close drains the connection (pending publishes and acks are flushed) and
// then stops the embedded server, waiting until it has written its store.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		if err := b.Conn.Drain(); err == nil {
			select {
			case <-b.closed:
			case <-time.After(10 * time.Second):
			}
		}
		b.Conn.Close()
		if b.Server != nil {
			b.Server.Shutdown()
			b.Server.WaitForShutdown()
		}
		if b.storeLock != nil {
			_ = b.storeLock.Close() // after the server has written its store
		}
	})
}
