package interop

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/testpki"
)

// sink is a Postfix smtp-sink that dumps every message into a folder.
type sink struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startSink runs smtp-sink on port (a free one if 0).
func startSink(t *testing.T, port int) *sink {
	t.Helper()
	bin := needTool(t, "smtp-sink")
	if port == 0 {
		port = freePort(t)
	}
	s := &sink{t: t, port: port, dir: t.TempDir(), done: make(chan struct{})}
	s.cmd = exec.Command(bin, "-u", "root", "-d", filepath.Join(s.dir, "%M."), fmt.Sprintf("127.0.0.1:%d", port), "1000")
	var errb bytes.Buffer
	s.cmd.Stderr = &errb
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	// Wait until it listens.
	for i := 0; ; i++ {
		if c, err := dialTCP(port); err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("smtp-sink exited: %s", errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if i > 250 {
			t.Fatal("smtp-sink did not start")
		}
	}
}

func (s *sink) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
	}
}

// messages returns the messages received so far, without smtp-sink's own
// X- envelope lines and Received field.
func (s *sink) messages() [][]byte {
	var out [][]byte
	files, _ := filepath.Glob(filepath.Join(s.dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		out = append(out, stripSinkHeader(b))
	}
	return out
}

// wait returns the messages once there are at least n (fails after 30 s).
func (s *sink) wait(n int) [][]byte {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms := s.messages()
		if len(ms) >= n {
			time.Sleep(100 * time.Millisecond) // let the last dump finish
			return s.messages()
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("smtp-sink on port %d got %d messages in 30 s, want %d", s.port, len(ms), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stripSinkHeader(b []byte) []byte {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	off := 0
	inReceived := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "X-Client-") || strings.HasPrefix(line, "X-Helo-Args:") || strings.HasPrefix(line, "X-Mail-Args:") || strings.HasPrefix(line, "X-Rcpt-Args:"):
		case strings.HasPrefix(line, "Received: ") && strings.Contains(string(b[off:min(off+300, len(b))]), "by smtp-sink"):
			inReceived = true
		case inReceived && (strings.HasPrefix(line, "\t") || strings.HasPrefix(line, " ")):
		default:
			return b[off:]
		}
		off += len(line) + 1
	}
	return b[off:]
}

var signetID = regexp.MustCompile(`\(Signet\) with ESMTPS? id ([0-9a-f]+)`)

// gw is an organisation running the gateway between two sinks.
type gw struct {
	*org
	smtp           int
	relay, deliver *sink
	stop           func()
	bob            *testpki.Identity
	partner        *testpki.Identity
	serveArgs      []string
}

// newGateway sets up example.org with alice (keys held by the gateway), a
// partner CA with bob@partner.test as a contact, and starts signet serve
// with the gateway between a relay sink and a deliver sink.
func newGateway(t *testing.T, extra ...string) *gw {
	t.Helper()
	needTool(t, "swaks")
	g := &gw{org: newOrg(t)}
	g.must("config", "set", "KeyCustody", "gateway")
	g.must("user", "add", "alice@example.org", "--name", "Alice", "--issue")
	var err error
	if g.partner, err = testpki.NewCA("Partner CA"); err != nil {
		t.Fatal(err)
	}
	if g.bob, err = g.partner.Issue("bob@partner.test", testpki.RSA2048, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := g.bob.WriteFiles(g.dir, "bob"); err != nil {
		t.Fatal(err)
	}
	g.write("partner-ca.pem", testpki.CertPEM(g.partner.Cert))
	g.must("trust", "import", "partner-ca.pem")
	g.must("contact", "add", "bob@partner.test", "--cert", "bob.crt")
	g.relay, g.deliver = startSink(t, 0), startSink(t, 0)
	g.smtp = freePort(t)
	g.serveArgs = append([]string{"--smtp", fmt.Sprintf("127.0.0.1:%d", g.smtp), "--smtp-hostname", "gw.example.org",
		"--relay", fmt.Sprintf("127.0.0.1:%d", g.relay.port), "--deliver", fmt.Sprintf("127.0.0.1:%d", g.deliver.port),
		"--smtp-retry", "1s"}, extra...)
	g.stop, _ = g.startServe(t, g.serveArgs...)
	return g
}

// swaks sends a message through the gateway.
func (g *gw) swaks(args ...string) result {
	g.t.Helper()
	return run(g.t, g.dir, nil, "swaks", append([]string{"--server", fmt.Sprintf("127.0.0.1:%d", g.smtp), "--hide-informational"}, args...)...)
}

// opensslDecryptVerify has OpenSSL decrypt a message for bob and verify
// the signature inside with Signet's root; it returns the verified content.
func (g *gw) opensslDecryptVerify(msg []byte) []byte {
	g.t.Helper()
	openssl := needTool(g.t, "openssl")
	in := g.write("in.eml", msg)
	mustRun(g.t, g.dir, nil, openssl, "cms", "-decrypt", "-in", in, "-recip", "bob.crt", "-inkey", "bob.key", "-out", "dec.eml")
	r := run(g.t, g.dir, nil, openssl, "cms", "-verify", "-in", "dec.eml", "-CAfile", "root.pem", "-purpose", "any", "-out", "content.txt")
	if r.code != 0 || !bytes.Contains(r.stderr, []byte("Verification successful")) {
		g.t.Fatalf("openssl cms -verify of the decrypted message: exit %d\n%s\n%s", r.code, r.stderr, g.read("dec.eml"))
	}
	return g.read("content.txt")
}

func header(msg []byte, name string) []string {
	var out []string
	hdr, _, _ := bytes.Cut(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")), []byte("\n\n"))
	for _, line := range strings.Split(string(hdr), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// TestGatewayOutboundInbound: alice's mail to bob@partner.test leaves
// signed by alice and encrypted for bob (OpenSSL decrypts and verifies it);
// bob's signed and encrypted mail to alice (made by OpenSSL) arrives
// decrypted with a verification header; a subject trigger forces
// encryption; recipients without certificates get the configured policy;
// /metrics counts it all.
func TestGatewayOutboundInbound(t *testing.T) {
	t.Parallel()
	openssl := needTool(t, "openssl")
	g := newGateway(t)
	g.must("config", "set", "AlwaysSign", "true")
	g.must("config", "set", "AlwaysEncrypt", "true")

	// Outbound.
	r := g.swaks("--from", "alice@example.org", "--to", "bob@partner.test", "--header", "Subject: quarterly figures", "--body", "the secret numbers 4 8 15")
	if r.code != 0 {
		t.Fatalf("swaks outbound: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := g.relay.wait(1)[0]
	if !bytes.Contains(out, []byte("application/pkcs7-mime")) || bytes.Contains(out, []byte("secret numbers")) {
		t.Fatalf("outbound message is not encrypted:\n%s", out)
	}
	if subj := header(out, "Subject"); len(subj) != 1 || subj[0] != "quarterly figures" {
		t.Errorf("outbound Subject = %q", subj)
	}
	if content := g.opensslDecryptVerify(out); !bytes.Contains(content, []byte("the secret numbers 4 8 15")) {
		t.Errorf("decrypted and verified content:\n%s", content)
	}

	// Inbound: OpenSSL signs as bob and encrypts for alice.
	g.exportPEM("alice@example.org", "encrypt", "alice-enc")
	g.write("note.txt", []byte("Content-Type: text/plain\r\n\r\nhello alice, the plans are attached\r\n"))
	mustRun(t, g.dir, nil, openssl, "cms", "-sign", "-in", "note.txt", "-signer", "bob.crt", "-inkey", "bob.key", "-out", "signed.eml")
	mustRun(t, g.dir, nil, openssl, "cms", "-encrypt", "-in", "signed.eml", "-aes256", "-out", "enc.eml", "alice-enc.pem")
	enc := append([]byte("From: bob@partner.test\r\nTo: alice@example.org\r\nSubject: plans\r\nX-Signet-Signature: valid; forged=yes\r\n"), g.read("enc.eml")...)
	g.write("inbound.eml", enc)
	if r := g.swaks("--from", "bob@partner.test", "--to", "alice@example.org", "--data", "inbound.eml"); r.code != 0 {
		t.Fatalf("swaks inbound: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	in := g.deliver.wait(1)[0]
	sig := header(in, "X-Signet-Signature")
	if len(sig) != 1 || !strings.HasPrefix(sig[0], "valid") || !strings.Contains(sig[0], "bob@partner.test") {
		t.Errorf("inbound X-Signet-Signature = %q (the forged one must be gone)", sig)
	}
	if e := header(in, "X-Signet-Encryption"); len(e) != 1 || !strings.HasPrefix(e[0], "decrypted") {
		t.Errorf("inbound X-Signet-Encryption = %q", e)
	}
	if !bytes.Contains(in, []byte("hello alice, the plans are attached")) {
		t.Errorf("inbound message not decrypted:\n%s", in)
	}
	// bob's certificate was already known (contact): nothing harvested.

	// A subject trigger forces encryption (AlwaysEncrypt off), and is
	// removed.
	g.must("config", "set", "AlwaysEncrypt", "false")
	g.must("policy", "add", "--subject-trigger", "[encrypt]", "--action", "encrypt-or-refuse", "--description", "encrypt on demand")
	if r := g.swaks("--from", "alice@example.org", "--to", "bob@partner.test", "--header", "Subject: [Encrypt] merger", "--body", "merger talk"); r.code != 0 {
		t.Fatalf("swaks with trigger: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	trig := g.relay.wait(2)
	var triggered []byte
	for _, m := range trig {
		if s := header(m, "Subject"); len(s) == 1 && strings.Contains(s[0], "merger") {
			triggered = m
		}
	}
	if triggered == nil || header(triggered, "Subject")[0] != "merger" || !bytes.Contains(triggered, []byte("application/pkcs7-mime")) {
		t.Fatalf("triggered message: subject %q\n%s", header(triggered, "Subject"), triggered)
	}
	if c := g.opensslDecryptVerify(triggered); !bytes.Contains(c, []byte("merger talk")) {
		t.Errorf("triggered content: %s", c)
	}
	// The trigger to a recipient without a certificate: refused (5.7.1).
	r = g.swaks("--from", "alice@example.org", "--to", "carol@nocert.test", "--header", "Subject: [encrypt] hi", "--body", "x")
	if r.code == 0 || !bytes.Contains(r.stdout, []byte("5.7.1")) || !bytes.Contains(r.stdout, []byte("carol@nocert.test")) {
		t.Errorf("encrypt-or-refuse without a certificate: exit %d\n%s", r.code, r.stdout)
	}
	// AlwaysEncrypt with NoCertificateAction: send-signed delivers signed
	// only; refuse refuses.
	g.must("config", "set", "AlwaysEncrypt", "true")
	if r := g.swaks("--from", "alice@example.org", "--to", "carol@nocert.test", "--header", "Subject: signed only", "--body", "plain but signed"); r.code != 0 {
		t.Fatalf("send-signed: exit %d\n%s", r.code, r.stdout)
	}
	var signedOnly []byte
	for _, m := range g.relay.wait(3) {
		if s := header(m, "Subject"); len(s) == 1 && s[0] == "signed only" {
			signedOnly = m
		}
	}
	g.write("signed-only.eml", signedOnly)
	if r := run(t, g.dir, nil, openssl, "cms", "-verify", "-in", "signed-only.eml", "-CAfile", "root.pem", "-purpose", "any"); r.code != 0 || !bytes.Contains(r.stdout, []byte("plain but signed")) {
		t.Errorf("send-signed message does not verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	g.must("config", "set", "NoCertificateAction", "refuse", "--domain", "example.org")
	if r := g.swaks("--from", "alice@example.org", "--to", "carol@nocert.test", "--body", "x"); r.code == 0 || !bytes.Contains(r.stdout, []byte("5.7.1")) {
		t.Errorf("NoCertificateAction refuse: exit %d\n%s", r.code, r.stdout)
	}
	// Mixed: bob has a certificate, carol not: bob gets the message,
	// alice a delivery status notification (RFC 3464) about carol.
	if r := g.swaks("--from", "alice@example.org", "--to", "bob@partner.test,carol@nocert.test", "--header", "Subject: mixed", "--body", "x"); r.code != 0 {
		t.Fatalf("mixed recipients: exit %d\n%s", r.code, lastLines(r.stdout, 4))
	}
	var dsn []byte
	for _, m := range g.deliver.wait(2) {
		if bytes.Contains(m, []byte("multipart/report")) {
			dsn = m
		}
	}
	if dsn == nil || !bytes.Contains(dsn, []byte("Final-Recipient: rfc822; carol@nocert.test")) || !bytes.Contains(dsn, []byte("Status: 5.7.1")) ||
		!bytes.Contains(dsn, []byte("Subject: mixed")) || len(header(dsn, "To")) != 1 || !strings.Contains(header(dsn, "To")[0], "alice@example.org") {
		t.Errorf("DSN for the refused recipient:\n%s", dsn)
	}

	// No open relay: an external sender to an external recipient.
	if r := g.swaks("--from", "eve@evil.test", "--to", "bob@partner.test", "--body", "spam"); r.code == 0 || !bytes.Contains(r.stdout, []byte("Relay access denied")) {
		t.Errorf("open relay: exit %d\n%s", r.code, r.stdout)
	}

	resp, err := http.Get(g.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var mb bytes.Buffer
	mb.ReadFrom(resp.Body)
	for _, want := range []string{`signet_gateway_messages_total{action="signed+encrypted",direction="outbound",result="ok"}`, `direction="inbound"`, `signet_gateway_processing_seconds_bucket`, `signet_queue_messages`} {
		if !strings.Contains(mb.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestGatewayNextHopDown: with the relay down, mail is accepted (queued)
// and delivered once the relay comes back.
func TestGatewayNextHopDown(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	port := g.relay.port
	g.relay.stop()
	if r := g.swaks("--from", "alice@example.org", "--to", "bob@partner.test", "--body", "queued while down"); r.code != 0 {
		t.Fatalf("swaks with the relay down: exit %d\n%s", r.code, r.stdout)
	}
	time.Sleep(1500 * time.Millisecond) // at least one failed attempt
	g.relay = startSink(t, port)
	if m := g.relay.wait(1)[0]; !bytes.Contains(m, []byte("queued while down")) {
		t.Errorf("delivered after the relay came back:\n%s", m)
	}
}

// TestGatewayCrash: `kill -9` of signet in the middle of 1,000 messages
// from smtp-source; after a restart every message that got a 250 to DATA is
// delivered (counted at the sink by Signet's queue id).
func TestGatewayCrash(t *testing.T) {
	t.Parallel()
	source := needTool(t, "smtp-source")
	g := newGateway(t)
	g.must("config", "set", "AlwaysSign", "true")
	g.must("config", "set", "AlwaysEncrypt", "true")
	log := filepath.Join(g.dir, "source.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(source, "-v", "-s", "5", "-m", "1000", "-l", "2048", "-f", "alice@example.org", "-t", "bob@partner.test",
		fmt.Sprintf("127.0.0.1:%d", g.smtp))
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); cmd.Wait(); f.Close() }()
	acked := func() int {
		b, _ := os.ReadFile(log)
		return bytes.Count(b, []byte("<<< 250 2.0.0 OK: queued"))
	}
	deadline := time.Now().Add(60 * time.Second)
	for acked() < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages acknowledged in 60 s", acked())
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.stop() // SIGKILL in the middle of the load
	wg.Wait()
	n := acked()
	if n >= 1000 {
		t.Fatalf("all 1000 acknowledged before the kill: the test proves nothing")
	}
	var errFile string
	g.stop, errFile = g.startServe(t, g.serveArgs...)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(errFile)
			t.Logf("signet serve after the restart:\n%s", b)
		}
	})
	msgs := g.relay.wait(n)
	ids := map[string]bool{}
	for _, m := range msgs {
		if sm := signetID.FindSubmatch(m); sm != nil {
			ids[string(sm[1])] = true
		}
	}
	if len(ids) < n {
		t.Fatalf("%d messages acknowledged with 250 before kill -9, only %d distinct ones delivered after the restart", n, len(ids))
	}
	t.Logf("acknowledged %d of 1000 before kill -9; delivered %d distinct (%d files at the sink)", n, len(ids), len(msgs))
}

func dialTCP(port int) (net.Conn, error) {
	return net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
}

// TestGatewayBadInput: malformed MIME, broken S/MIME, a huge header line
// and a message over the size limit get clear SMTP replies or are
// delivered with an explanatory header; the gateway keeps serving; STARTTLS
// works; a valid signer's certificate is harvested.
func TestGatewayBadInput(t *testing.T) {
	t.Parallel()
	openssl := needTool(t, "openssl")
	g := newGateway(t, "--smtp-max-size", "200000")

	// Malformed MIME, inbound: delivered with X-Signet-Error.
	g.write("bad-mime.eml", []byte("From: x@partner.test\r\nTo: alice@example.org\r\nSubject: bad\r\nthis is not a header line\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\nbody without boundary\r\n"))
	if r := g.swaks("--from", "x@partner.test", "--to", "alice@example.org", "--data", "bad-mime.eml"); r.code != 0 {
		t.Fatalf("malformed MIME: exit %d\n%s", r.code, r.stdout)
	}
	// Broken S/MIME, inbound: delivered with the reason.
	g.write("bad-smime.eml", []byte("From: x@partner.test\r\nTo: alice@example.org\r\nSubject: broken smime\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggFAMIIBPAIBADCBpTCBnDELMAkGA1UEBhMCVVMx\r\n"))
	if r := g.swaks("--from", "x@partner.test", "--to", "alice@example.org", "--data", "bad-smime.eml"); r.code != 0 {
		t.Fatalf("broken S/MIME: exit %d\n%s", r.code, r.stdout)
	}
	ms := g.deliver.wait(2)
	var sawMIME, sawSMIME bool
	for _, m := range ms {
		subj := header(m, "Subject")
		switch {
		case len(subj) == 1 && subj[0] == "bad":
			sawMIME = len(header(m, "X-Signet-Error")) == 1 && bytes.Contains(m, []byte("body without boundary"))
		case len(subj) == 1 && subj[0] == "broken smime":
			e := header(m, "X-Signet-Encryption")
			sawSMIME = len(e) == 1 && strings.HasPrefix(e[0], "not decrypted")
		}
	}
	if !sawMIME || !sawSMIME {
		t.Errorf("malformed MIME delivered with X-Signet-Error: %t; broken S/MIME delivered as not decrypted: %t\n%s", sawMIME, sawSMIME, bytes.Join(ms, []byte("\n=====\n")))
	}
	// A header line longer than SMTP allows, and a message over the size
	// limit: refused with a clear code, nothing delivered.
	g.write("long-header.eml", []byte("From: x@partner.test\r\nTo: alice@example.org\r\nX-Long: "+strings.Repeat("a", 100000)+"\r\n\r\nbody\r\n"))
	if r := g.swaks("--from", "x@partner.test", "--to", "alice@example.org", "--data", "long-header.eml"); r.code == 0 || !regexp.MustCompile(`<\*\* 5\d\d`).Match(r.stdout) {
		t.Errorf("a 100,000-character header line: exit %d\n%s", r.code, lastLines(r.stdout, 4))
	}
	g.write("big.eml", []byte("From: x@partner.test\r\nTo: alice@example.org\r\nSubject: big\r\n\r\n"+strings.Repeat("0123456789012345678901234567890123456789\r\n", 6000)))
	if r := g.swaks("--from", "x@partner.test", "--to", "alice@example.org", "--data", "big.eml"); r.code == 0 || !bytes.Contains(r.stdout, []byte("552")) {
		t.Errorf("a message over --smtp-max-size: exit %d\n%s", r.code, lastLines(r.stdout, 4))
	}
	// STARTTLS, and the gateway still serves.
	if r := g.swaks("--tls", "--from", "x@partner.test", "--to", "alice@example.org", "--header", "Subject: over tls", "--body", "tls body"); r.code != 0 {
		t.Fatalf("STARTTLS: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, m := range g.deliver.wait(3) {
		if s := header(m, "Subject"); len(s) == 1 && s[0] == "over tls" && !bytes.Contains(m, []byte("with ESMTPS id")) {
			t.Errorf("the Received field does not say ESMTPS:\n%s", m)
		}
	}

	// A validly signed message from an unknown partner address: its
	// certificate is harvested and then found by lookup.
	carol, err := g.partner.Issue("carol@partner.test", testpki.P256, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := carol.WriteFiles(g.dir, "carol"); err != nil {
		t.Fatal(err)
	}
	g.write("carol-note.txt", []byte("From: carol@partner.test\r\nTo: alice@example.org\r\nSubject: hello from carol\r\n\r\nsigned hello\r\n"))
	mustRun(t, g.dir, nil, openssl, "cms", "-sign", "-in", "carol-note.txt", "-signer", "carol.crt", "-inkey", "carol.key", "-text", "-out", "carol-signed.eml")
	signed := append([]byte("From: carol@partner.test\r\nTo: alice@example.org\r\nSubject: hello from carol\r\n"), g.read("carol-signed.eml")...)
	g.write("carol-msg.eml", signed)
	if r := g.swaks("--from", "carol@partner.test", "--to", "alice@example.org", "--data", "carol-msg.eml"); r.code != 0 {
		t.Fatalf("signed inbound: exit %d\n%s", r.code, r.stdout)
	}
	for _, m := range g.deliver.wait(4) {
		if s := header(m, "Subject"); len(s) == 1 && s[0] == "hello from carol" {
			if v := header(m, "X-Signet-Signature"); len(v) != 1 || !strings.HasPrefix(v[0], "valid") {
				t.Errorf("carol's signature: %q", v)
			}
		}
	}
	if r := g.signet(nil, "lookup", "carol@partner.test", "--offline"); r.code != 0 || !bytes.Contains(r.stdout, []byte("found in harvested")) {
		t.Errorf("harvested certificate not found by lookup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A CA imported into the trust collection while the gateway runs is
	// trusted for the next message.
	other, err := testpki.NewCA("Other CA")
	if err != nil {
		t.Fatal(err)
	}
	dave, err := other.Issue("dave@other.test", testpki.P256, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := dave.WriteFiles(g.dir, "dave"); err != nil {
		t.Fatal(err)
	}
	send := func(n int) []string {
		g.write("dave-note.txt", []byte(fmt.Sprintf("From: dave@other.test\r\nTo: alice@example.org\r\nSubject: from dave %d\r\n\r\nhello\r\n", n)))
		mustRun(t, g.dir, nil, openssl, "cms", "-sign", "-in", "dave-note.txt", "-signer", "dave.crt", "-inkey", "dave.key", "-text", "-out", "dave-signed.eml")
		g.write("dave-msg.eml", append([]byte(fmt.Sprintf("From: dave@other.test\r\nTo: alice@example.org\r\nSubject: from dave %d\r\n", n)), g.read("dave-signed.eml")...))
		if r := g.swaks("--from", "dave@other.test", "--to", "alice@example.org", "--data", "dave-msg.eml"); r.code != 0 {
			t.Fatalf("dave's message %d: exit %d\n%s", n, r.code, r.stdout)
		}
		for _, m := range g.deliver.wait(4 + n) {
			if s := header(m, "Subject"); len(s) == 1 && s[0] == fmt.Sprintf("from dave %d", n) {
				return header(m, "X-Signet-Signature")
			}
		}
		t.Fatalf("dave's message %d not delivered", n)
		return nil
	}
	if v := send(1); len(v) != 1 || !strings.HasPrefix(v[0], "invalid") {
		t.Errorf("before the CA is trusted: %q", v)
	}
	g.write("other-ca.pem", testpki.CertPEM(other.Cert))
	g.must("trust", "import", "other-ca.pem")
	if v := send(2); len(v) != 1 || !strings.HasPrefix(v[0], "valid") {
		t.Errorf("after trust import, without a restart: %q", v)
	}
}

// TestGatewayDiskFull: with the queue on a small file system, the gateway
// answers 452 (try later) instead of accepting what it cannot keep — both
// through the free-space guard and on a real ENOSPC — and what it accepted
// is delivered.
func TestGatewayDiskFull(t *testing.T) {
	t.Parallel()
	if os.Getenv("CI") != "true" && os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	o := newOrg(t)
	o.must("config", "set", "KeyCustody", "gateway")
	o.must("user", "add", "alice@example.org", "--issue")
	qdir := filepath.Join(o.data, "queue")
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=600k,mode=0700", "tmpfs", qdir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (the test runs as root under CI): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", qdir).Run() })
	deliver := startSink(t, 0)
	relayPort := freePort(t) // the relay is down: accepted mail stays queued
	smtpPort := freePort(t)
	args := []string{"--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort), "--relay", fmt.Sprintf("127.0.0.1:%d", relayPort),
		"--deliver", fmt.Sprintf("127.0.0.1:%d", deliver.port), "--smtp-retry", "1s"}
	swaks := func(body string) result {
		o.write("msg.eml", []byte("From: alice@example.org\r\nTo: bob@partner.test\r\nSubject: fill\r\n\r\n"+body+"\r\n"))
		return run(t, o.dir, nil, needTool(t, "swaks"), "--server", fmt.Sprintf("127.0.0.1:%d", smtpPort), "--hide-informational",
			"--from", "alice@example.org", "--to", "bob@partner.test", "--data", "msg.eml")
	}
	// The free-space guard: 64 MiB by default, more than the tmpfs has.
	stop, _ := o.startServe(t, args...)
	if r := swaks("guarded"); r.code == 0 || !bytes.Contains(r.stdout, []byte("452")) {
		t.Errorf("below --smtp-min-free: exit %d\n%s", r.code, lastLines(r.stdout, 3))
	}
	stop()
	// No guard: the file system really fills up.
	stop, _ = o.startServe(t, append(args, "--smtp-min-free", "-1")...)
	defer stop()
	accepted, full := 0, false
	for i := 0; i < 20 && !full; i++ {
		r := swaks(strings.Repeat(fmt.Sprintf("message %03d ..............................................\r\n", i), 2000))
		switch {
		case r.code == 0:
			accepted++
		case bytes.Contains(r.stdout, []byte("452")):
			full = true
		default:
			t.Fatalf("message %d: exit %d, neither accepted nor 452\n%s", i, r.code, lastLines(r.stdout, 3))
		}
	}
	if !full || accepted == 0 {
		t.Fatalf("accepted %d, disk full seen: %t", accepted, full)
	}
	// The relay comes back: everything accepted is delivered, space is
	// freed, and mail is accepted again.
	relay := startSink(t, relayPort)
	relay.wait(accepted)
	deadline := time.Now().Add(20 * time.Second)
	for swaks("after").code != 0 {
		if time.Now().After(deadline) {
			t.Fatal("still refusing 20 s after the queue drained")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("accepted %d messages of 120 KB before 452 on a 600 KiB file system", accepted)
}

// TestGatewaySubmissionAuth: with --smtp-auth and no trusted network, only
// an authenticated mailbox (AUTH PLAIN after STARTTLS) may send out, and
// only as itself.
func TestGatewaySubmissionAuth(t *testing.T) {
	t.Parallel()
	g := newGateway(t, "--smtp-auth", "--smtp-trusted", "192.0.2.0/24")
	g.write("alice-pass", []byte("alice-submission-pw\n"))
	g.must("user", "password", "alice@example.org", "--password-file", "alice-pass")
	send := func(args ...string) result {
		return g.swaks(append([]string{"--to", "bob@partner.test", "--body", "submitted"}, args...)...)
	}
	if r := send("--from", "alice@example.org"); r.code == 0 || !bytes.Contains(r.stdout, []byte("Relay access denied")) {
		t.Errorf("unauthenticated from an untrusted network: exit %d\n%s", r.code, lastLines(r.stdout, 3))
	}
	if r := send("--from", "alice@example.org", "--auth", "PLAIN", "--auth-user", "alice@example.org", "--auth-password", "alice-submission-pw"); r.code == 0 {
		t.Errorf("AUTH without STARTTLS was accepted\n%s", lastLines(r.stdout, 3))
	}
	if r := send("--tls", "--from", "alice@example.org", "--auth", "PLAIN", "--auth-user", "alice@example.org", "--auth-password", "wrong-password"); r.code == 0 || !bytes.Contains(r.stdout, []byte("535")) {
		t.Errorf("wrong password: exit %d\n%s", r.code, lastLines(r.stdout, 3))
	}
	if r := send("--tls", "--from", "mallory@example.org", "--auth", "PLAIN", "--auth-user", "alice@example.org", "--auth-password", "alice-submission-pw"); r.code == 0 || !bytes.Contains(r.stdout, []byte("553")) {
		t.Errorf("sending as another mailbox: exit %d\n%s", r.code, lastLines(r.stdout, 3))
	}
	if r := send("--tls", "--from", "alice@example.org", "--auth", "PLAIN", "--auth-user", "alice@example.org", "--auth-password", "alice-submission-pw"); r.code != 0 {
		t.Fatalf("authenticated submission: exit %d\n%s", r.code, lastLines(r.stdout, 5))
	}
	if m := g.relay.wait(1)[0]; !bytes.Contains(m, []byte("with ESMTPSA id")) || !bytes.Contains(m, []byte("submitted")) {
		t.Errorf("submitted message at the relay:\n%s", m)
	}

	// Internal mail that claims alice as its sender from an untrusted,
	// unauthenticated client is handled as inbound: not signed with her
	// key. Authenticated, it is signed.
	g.must("config", "set", "AlwaysSign", "true")
	g.must("config", "set", "LocalToLocal", "process")
	g.must("user", "add", "carol@example.org")
	if r := g.swaks("--from", "alice@example.org", "--to", "carol@example.org", "--header", "Subject: spoofed", "--body", "x"); r.code != 0 {
		t.Fatalf("local to local, unauthenticated: exit %d\n%s", r.code, lastLines(r.stdout, 3))
	}
	if r := g.swaks("--tls", "--from", "alice@example.org", "--to", "carol@example.org", "--header", "Subject: genuine", "--body", "x",
		"--auth", "PLAIN", "--auth-user", "alice@example.org", "--auth-password", "alice-submission-pw"); r.code != 0 {
		t.Fatalf("local to local, authenticated: exit %d\n%s", r.code, lastLines(r.stdout, 3))
	}
	for _, m := range g.deliver.wait(2) {
		signed := bytes.Contains(m, []byte("multipart/signed")) || bytes.Contains(m, []byte("signed-data"))
		switch s := header(m, "Subject"); {
		case len(s) == 1 && s[0] == "spoofed" && signed:
			t.Error("mail claiming a local sender from an untrusted client was signed with her key")
		case len(s) == 1 && s[0] == "genuine" && !signed:
			t.Errorf("authenticated internal mail was not signed:\n%s", m)
		}
	}
}
