package wafake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"go.mau.fi/libsignal/ecc"
	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCert"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// Host is the only name the fake answers for: whatsmeow's websocket URL
// is wss://web.whatsapp.com/ws/chat.
const Host = "web.whatsapp.com"

// rootKey is the process's stand-in for WhatsApp's Noise root key, whose
// public half whatsmeow pins in WACertPubKey. One per process, so that
// every Server's certificate chain verifies under one installed key and
// tests using different Servers can run in parallel. A remote fake
// (remote.go) takes its parent's with UseRoot. Guarded by rootMu.
var (
	rootMu  sync.Mutex
	rootKey *keys.KeyPair
)

// root returns the process's Noise root key, made on first use.
func root() *keys.KeyPair {
	rootMu.Lock()
	defer rootMu.Unlock()
	if rootKey == nil {
		rootKey = keys.NewKeyPair()
	}
	return rootKey
}

var installOnce sync.Once

// InstallRoot points whatsmeow's pinned Noise root key
// (whatsmeow.WACertPubKey, a process-wide variable) at the fake's root,
// once per process. Call it before any whatsmeow client connects, e.g.
// in TestMain: a client already handshaking would race the write. After
// it, no whatsmeow client of the process can complete a handshake with
// the real WhatsApp, which is the point.
func InstallRoot() {
	installOnce.Do(func() { wa.WACertPubKey = *root().Pub })
}

// Options tunes a Server. The zero value is what the real service does.
type Options struct {
	// Refs is how many QR refs a pair-device offer carries. WhatsApp
	// sends 6; whatsmeow shows the first for 60 s and the rest for 20 s
	// each, then gives up (qr_timeout). Fewer refs make the timeout
	// reachable in a test: 1 ref runs out after 20 s.
	Refs int
	// Logf, if set, receives one line per protocol step.
	Logf func(format string, args ...any)
}

// Server is a fake WhatsApp multi-device server on a loopback listener.
type Server struct {
	opts   Options
	ln     net.Listener
	hs     *http.Server
	roots  *x509.CertPool
	caPEM  []byte // the test CA's certificate, PEM
	static *keys.KeyPair
	chain  []byte // marshalled waCert.CertChain for static

	mu       sync.Mutex
	accounts map[string]*Account // by phone number (JID user)
	lids     map[string]*Account // by LID user
	pending  map[string]*conn    // QR ref -> connection waiting to pair
	conns    map[*conn]struct{}  // every open connection
	refused  []string            // dial targets refused
	closed   bool
	wg       sync.WaitGroup

	// Phone-code pairings waiting for the phone (paircode.go): by
	// pairing ref, and each phone number's newest. Guarded by mu.
	codes      map[string]*codePairing
	phoneCodes map[string]*codePairing

	// Media (media.go): auths, blobs and uploads, under their own
	// mutex, and the phones' HTTP client for the CDN.
	media   mediaStore
	mediaHC *http.Client

	// Groups (group.go). Guarded by mu.
	groups groupStore
}

// New starts a Server on 127.0.0.1 with a fresh TLS CA and Noise key.
func New(opts Options) (*Server, error) {
	if opts.Refs <= 0 {
		opts.Refs = 6
	}
	s := &Server{
		opts:     opts,
		static:   keys.NewKeyPair(),
		accounts: map[string]*Account{},
		lids:     map[string]*Account{},
		pending:  map[string]*conn{},
		conns:    map[*conn]struct{}{},

		codes:      map[string]*codePairing{},
		phoneCodes: map[string]*codePairing{},
	}
	var err error
	if s.chain, err = certChain(s.static); err != nil {
		return nil, err
	}
	cert, pool, err := tlsIdentity()
	if err != nil {
		return nil, err
	}
	s.roots = pool
	s.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[len(cert.Certificate)-1]})
	if s.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/chat", s.serveWS)
	s.routeMedia(mux)
	s.hs = &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	go s.hs.ServeTLS(s.ln, "", "") //nolint:errcheck // ends with Close
	return s, nil
}

// Addr is the loopback address the fake listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close disconnects every client and stops listening.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var cs []*conn
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.closeNow()
	}
	err := s.hs.Close()
	s.wg.Wait()
	s.media.mu.Lock()
	if s.mediaHC != nil {
		s.mediaHC.CloseIdleConnections()
	}
	s.media.mu.Unlock()
	return err
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf("wafake: "+format, args...)
	}
}

// Dial connects to the fake for a connection whatsmeow wants to open to
// Host:443, and refuses (and records) every other address, so a client
// using it can reach nothing but the fake.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialOnly(s.ln.Addr().String(), func(target string) {
		s.mu.Lock()
		s.refused = append(s.refused, target)
		s.mu.Unlock()
	})(ctx, network, addr)
}

// dialOnly returns a dialer that connects Host:443 to the fake listening
// at addr and refuses every other target, telling refused (if not nil).
func dialOnly(addr string, refused func(target string)) func(ctx context.Context, network, target string) (net.Conn, error) {
	return func(ctx context.Context, network, target string) (net.Conn, error) {
		if target != Host+":443" {
			if refused != nil {
				refused(target)
			}
			return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("wafake refuses %s: %w", target, syscall.ECONNREFUSED)}
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// Refused lists the addresses Dial refused, in order.
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// HTTPClient returns a client that reaches only the fake: Dial as its
// dialer, no proxy, and the fake's test CA as the only trusted root. Give
// it to whatsmeow's SetPreLoginHTTPClient, SetWebsocketHTTPClient and
// SetMediaHTTPClient. (A fake in another process: HTTPClientFor.)
func (s *Server) HTTPClient() *http.Client { return httpClient(s.Dial, s.roots) }

// CAPEM returns the certificate of the fake's throwaway TLS CA, PEM
// encoded: what HTTPClientFor trusts in another process.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// httpClient is an HTTP client that dials with dial and trusts roots only.
func httpClient(dial func(ctx context.Context, network, addr string) (net.Conn, error), roots *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   false,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{Host}})
	if err != nil {
		s.logf("websocket upgrade: %v", err)
		return
	}
	ws.SetReadLimit(maxFrame + 16)
	c := newConn(s, ws)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.CloseNow()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	for ref, pc := range s.pending {
		if pc == c {
			delete(s.pending, ref)
		}
	}
	s.mu.Unlock()
}

// certChain signs an intermediate with the root and a leaf for static
// with the intermediate, as WhatsApp's server presents in its hello.
func certChain(static *keys.KeyPair) ([]byte, error) {
	inter := keys.NewKeyPair()
	now := uint64(time.Now().Unix())
	interDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(1),
		IssuerSerial: proto.Uint32(wa.WACertIssuerSerial),
		Key:          inter.Pub[:],
		NotBefore:    proto.Uint64(now - 3600),
		NotAfter:     proto.Uint64(now + 365*24*3600),
	})
	if err != nil {
		return nil, err
	}
	leafDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(2),
		IssuerSerial: proto.Uint32(1),
		Key:          static.Pub[:],
		NotBefore:    proto.Uint64(now - 3600),
		NotAfter:     proto.Uint64(now + 30*24*3600),
	})
	if err != nil {
		return nil, err
	}
	interSig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*root().Priv), interDetails)
	leafSig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*inter.Priv), leafDetails)
	return proto.Marshal(&waCert.CertChain{
		Intermediate: &waCert.CertChain_NoiseCertificate{Details: interDetails, Signature: interSig[:]},
		Leaf:         &waCert.CertChain_NoiseCertificate{Details: leafDetails, Signature: leafSig[:]},
	})
}

// tlsIdentity makes a throwaway CA and a leaf for Host signed by it.
func tlsIdentity() (tls.Certificate, *x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wafake test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: Host},
		DNSNames:     []string{Host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}, pool, nil
}

var errClosed = errors.New("wafake: connection closed")

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
