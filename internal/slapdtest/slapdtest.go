// Package slapdtest runs a real OpenLDAP slapd for tests: a throw-away
// directory in a temporary folder, an mdb database loaded with slapadd
// before the server starts, and a listener on a free port of 127.0.0.1.
//
// The server is configured with a slapd.conf file (slapd -f), not cn=config:
// it is started once and never reconfigured. It runs in the foreground as
// the user running the tests (root on CI: slapd is not given -u, so it keeps
// that user), logs errors to a buffer that the test log shows when the test
// failed, and is stopped by t.Cleanup.
//
// Every server has the suffix entry, a root DN without limits, and a
// service account (ServiceDN) that reads everything and writes only
// userCertificate and userSMIMECertificate — what an S/MIME directory
// connector is normally granted. The size limit for binds other than the
// root DN is Options.SizeLimit; paged results are never limited in total,
// so a paged search returns every entry.
//
// Start (slapadd and slapd up) takes about 40 ms on an empty directory,
// 0.3 s with 10,000 generated entries and 3.5 s with 100,000.
package slapdtest

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/signet-smime/signet/internal/peertest"
)

// Options configure a server. The zero value is a server for
// dc=example,dc=org with the core, cosine and inetorgperson schemas.
type Options struct {
	// Suffix is the naming context; default "dc=example,dc=org". Its first
	// RDN must be dc, o or ou: the harness adds the suffix entry.
	Suffix string
	// Schemas are extra schemas after core, cosine and inetorgperson: a
	// name such as "nis" or "misc" means /etc/ldap/schema/NAME.schema, a
	// path containing a slash is included as is (slapd.conf syntax).
	Schemas []string
	// ADSchema adds a small AD-like schema: the classes user, contact,
	// computer and group, and the attributes proxyAddresses,
	// userAccountControl, objectGUID, whenChanged, sAMAccountName and
	// groupType (AD's OIDs, searchable matching rules).
	ADSchema bool
	// Entries, when positive, generates that many inetOrgPerson entries
	// uid=userNNNNNN,ou=generated,SUFFIX with mail userNNNNNN@DOMAIN
	// (NNNNNN from 000000), loaded with slapadd.
	Entries int
	// LDIF is loaded with slapadd before the server starts, after the
	// suffix entry (left out when LDIF has the suffix entry itself), the
	// service account and the generated entries.
	LDIF []byte
	// SizeLimit is the size limit of searches by binds other than the root
	// DN (the service account, anonymous); 0 means unlimited. Paged
	// searches are not bounded by it.
	SizeLimit int
	// TLS makes a CA and a certificate for 127.0.0.1 and localhost: the
	// server then also listens for ldaps:// (LDAPSURL) and offers StartTLS
	// on URL. TLSConfig trusts the CA.
	TLS bool
}

// Server is a running slapd.
type Server struct {
	URL             string            // ldap://127.0.0.1:PORT
	LDAPSURL        string            // ldaps://127.0.0.1:PORT with Options.TLS
	CA              *x509.Certificate // the issuer of the server certificate, with Options.TLS
	Suffix          string
	Domain          string // mail domain from the suffix's dc components ("example.org")
	RootDN          string // cn=admin,SUFFIX, no limits, no access control
	RootPassword    string
	ServiceDN       string // cn=signet,SUFFIX: reads all, writes certificates only
	ServicePassword string
	Dir             string // the temporary folder: slapd.conf, initial.ldif, db/

	cmd  *exec.Cmd
	done chan struct{}
	log  *syncBuffer
	once sync.Once
}

// Start runs a slapd for the test and stops it when the test ends. A
// missing slapd fails the test under CI and skips it elsewhere.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	slapd := peertest.NeedTool(t, "slapd")
	slapadd := peertest.NeedTool(t, "slapadd")
	if o.Suffix == "" {
		o.Suffix = "dc=example,dc=org"
	}
	s := &Server{
		Suffix:          o.Suffix,
		Domain:          domainOf(o.Suffix),
		RootDN:          "cn=admin," + o.Suffix,
		RootPassword:    randomPassword(),
		ServiceDN:       "cn=signet," + o.Suffix,
		ServicePassword: randomPassword(),
		Dir:             t.TempDir(),
	}
	conf, err := s.writeConfig(o)
	if err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	ldif, err := s.initialLDIF(o)
	if err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	ldifPath := filepath.Join(s.Dir, "initial.ldif")
	if err := os.WriteFile(ldifPath, ldif, 0o600); err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	if out, err := exec.Command(slapadd, "-q", "-f", conf, "-l", ldifPath).CombinedOutput(); err != nil {
		t.Fatalf("slapdtest: slapadd: %v\n%s", err, out)
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		lastErr = s.run(slapd, conf, o.TLS)
		if lastErr == nil {
			break
		}
		if !strings.Contains(s.log.String(), "Address already in use") {
			break
		}
	}
	if lastErr != nil {
		log := ""
		if s.log != nil {
			log = s.log.String()
		}
		t.Fatalf("slapdtest: %v\nslapd log:\n%s", lastErr, log)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("slapd log (%s):\n%s", s.URL, s.log.String())
		}
	})
	return s
}

// run starts slapd on a free port and waits until the root DN can bind.
func (s *Server) run(slapd, conf string, withTLS bool) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	listen := s.URL + "/"
	if withTLS {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", port)
		listen += " " + s.LDAPSURL + "/"
	}
	s.log = &syncBuffer{}
	// -d none: stay in the foreground and log only errors to stderr.
	cmd := exec.Command(slapd, "-d", "none", "-f", conf, "-h", listen)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("slapd exited at start: %v", waitErr)
		default:
		}
		if err := s.tryBind(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("slapd did not answer on %s within 20s: %v", s.URL, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) tryBind() error {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	return c.Bind(s.RootDN, s.RootPassword)
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 seconds). It is
// safe to call more than once; Start registers it with t.Cleanup.
func (s *Server) Stop() {
	s.once.Do(s.kill)
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Log returns what slapd has logged so far (errors only).
func (s *Server) Log() string { return s.log.String() }

// Conn returns a connection bound as the root DN, closed when the test ends.
func (s *Server) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	return s.bind(t, s.RootDN, s.RootPassword)
}

// ServiceConn returns a connection bound as the service account, closed
// when the test ends.
func (s *Server) ServiceConn(t testing.TB) *ldap.Conn {
	t.Helper()
	return s.bind(t, s.ServiceDN, s.ServicePassword)
}

func (s *Server) bind(t testing.TB, dn, pw string) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("slapdtest: dial %s: %v", s.URL, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(dn, pw); err != nil {
		t.Fatalf("slapdtest: bind as %s: %v", dn, err)
	}
	return c
}

// AddLDIF adds the entries of an LDIF text (records separated by blank
// lines, no change records) through a root connection.
func (s *Server) AddLDIF(t testing.TB, ldif string) {
	t.Helper()
	entries, err := ParseLDIF(ldif)
	if err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	c := s.Conn(t)
	for _, e := range entries {
		req := ldap.NewAddRequest(e.DN, nil)
		for _, a := range e.Attributes {
			req.Attribute(a.Name, a.Values)
		}
		if err := c.Add(req); err != nil {
			t.Fatalf("slapdtest: add %s: %v", e.DN, err)
		}
	}
}

func (s *Server) writeConfig(o Options) (string, error) {
	if err := os.Mkdir(filepath.Join(s.Dir, "db"), 0o700); err != nil {
		return "", err
	}
	var b strings.Builder
	schemas := []string{"core", "cosine", "inetorgperson"}
	for _, name := range o.Schemas {
		dup := false
		for _, have := range schemas {
			dup = dup || have == name
		}
		if !dup {
			schemas = append(schemas, name)
		}
	}
	for _, name := range schemas {
		path := name
		if !strings.Contains(name, "/") {
			path = "/etc/ldap/schema/" + name + ".schema"
		}
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("schema %s: %w", name, err)
		}
		fmt.Fprintf(&b, "include %s\n", path)
	}
	if o.ADSchema {
		path := filepath.Join(s.Dir, "ad.schema")
		if err := os.WriteFile(path, []byte(adSchema), 0o600); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "include %s\n", path)
	}
	if o.TLS {
		lines, err := s.writeTLS()
		if err != nil {
			return "", err
		}
		b.WriteString(lines)
	}
	limit := "unlimited"
	if o.SizeLimit > 0 {
		limit = fmt.Sprintf("size.soft=%d size.hard=%d", o.SizeLimit, o.SizeLimit)
	}
	// mdb's maxsize is the map size, not disk space: the file grows as used.
	fmt.Fprintf(&b, `modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args

database mdb
maxsize 4294967296
suffix %[2]q
rootdn %[3]q
rootpw %[4]s
directory %[1]s/db
sizelimit %[5]s size.prtotal=unlimited
timelimit unlimited
limits dn.exact=%[3]q size=unlimited time=unlimited
index objectClass eq
index mail eq,sub
index cn eq,sub
index uid eq
index member eq
index entryUUID eq
`, s.Dir, s.Suffix, s.RootDN, s.RootPassword, limit)
	if o.ADSchema {
		b.WriteString("index proxyAddresses eq,sub\n")
	}
	fmt.Fprintf(&b, `access to attrs=userPassword
	by anonymous auth
	by * none
access to attrs=userCertificate,userSMIMECertificate
	by users write
	by * read
access to *
	by * read
`)
	conf := filepath.Join(s.Dir, "slapd.conf")
	return conf, os.WriteFile(conf, []byte(b.String()), 0o600)
}

func (s *Server) initialLDIF(o Options) ([]byte, error) {
	var b bytes.Buffer
	if !hasDN(o.LDIF, s.Suffix) {
		rdn := strings.SplitN(s.Suffix, ",", 2)[0]
		typ, val, ok := strings.Cut(rdn, "=")
		if !ok {
			return nil, fmt.Errorf("bad suffix %q", s.Suffix)
		}
		fmt.Fprintf(&b, "dn: %s\n", s.Suffix)
		switch strings.ToLower(strings.TrimSpace(typ)) {
		case "dc":
			fmt.Fprintf(&b, "objectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n\n", val, val)
		case "o":
			fmt.Fprintf(&b, "objectClass: organization\no: %s\n\n", val)
		case "ou":
			fmt.Fprintf(&b, "objectClass: organizationalUnit\nou: %s\n\n", val)
		default:
			return nil, fmt.Errorf("suffix %q: the first RDN must be dc, o or ou", s.Suffix)
		}
	}
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: signet\nuserPassword: %s\n\n",
		s.ServiceDN, s.ServicePassword)
	if o.Entries > 0 {
		fmt.Fprintf(&b, "dn: ou=generated,%s\nobjectClass: organizationalUnit\nou: generated\n\n", s.Suffix)
		for i := 0; i < o.Entries; i++ {
			fmt.Fprintf(&b, "dn: uid=user%06[1]d,ou=generated,%[2]s\nobjectClass: inetOrgPerson\nuid: user%06[1]d\ncn: User %06[1]d\nsn: %06[1]d\nmail: user%06[1]d@%[3]s\n\n",
				i, s.Suffix, s.Domain)
		}
	}
	b.Write(o.LDIF)
	b.WriteString("\n")
	return b.Bytes(), nil
}

// hasDN reports whether an LDIF text has an entry named dn (compared
// without case or spaces around commas).
func hasDN(ldif []byte, dn string) bool {
	want := normDN(dn)
	for _, line := range strings.Split(string(ldif), "\n") {
		line = strings.TrimRight(line, "\r")
		if len(line) > 3 && strings.EqualFold(line[:3], "dn:") && !strings.HasPrefix(line, "dn::") {
			if normDN(line[3:]) == want {
				return true
			}
		}
	}
	return false
}

func normDN(dn string) string {
	parts := strings.Split(dn, ",")
	for i, p := range parts {
		parts[i] = strings.ToLower(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func domainOf(suffix string) string {
	var labels []string
	for _, rdn := range strings.Split(suffix, ",") {
		typ, val, ok := strings.Cut(strings.TrimSpace(rdn), "=")
		if ok && strings.EqualFold(strings.TrimSpace(typ), "dc") {
			labels = append(labels, strings.TrimSpace(val))
		}
	}
	if len(labels) == 0 {
		return "example.org"
	}
	return strings.ToLower(strings.Join(labels, "."))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// syncBuffer is a bytes.Buffer safe for slapd's output goroutines and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

var errNoDN = errors.New("LDIF record without dn")
