// Package policy is the organisation's S/MIME settings (Exchange's
// Set-SmimeConfig, with Signet's defaults) resolved per domain and per user,
// and the rules that decide, for one message, whether the gateway signs,
// encrypts, refuses or leaves it alone.
//
// [Settings] is the registry of every setting (organisation-wide ones such
// as KeyCustody and the CRL timeouts, Set-SmimeConfig's S/MIME set, and the
// gateway's own), with defaults, allowed values and checks ([Validate],
// [Help]). Settings marked Scoped may also be set per domain
// ("domain:example.org") and per user ("user:alice@example.org").
//
// [Engine] reads settings and rules from a store.Store. Settings resolve
// factory ← organisation ← domain ← user: the most specific level that sets
// a value wins, domain and user values count only for Scoped settings, and a
// stored value that no longer validates is skipped with a warning. Rules
// are kept as JSON ([EncodeRule]) and evaluated in priority order; every
// matching rule contributes its action, the settings (AlwaysSign,
// AlwaysEncrypt) contribute theirs, and the action none wins over all of
// them. See [Engine.Decide].
package policy

import "context"

// Levels a setting value comes from.
const (
	LevelFactory      = "factory"
	LevelOrganisation = "organisation"
	LevelDomain       = "domain"
	LevelUser         = "user"
)

// Directions of a message through the gateway.
const (
	Outbound = "outbound" // a local sender to external recipients
	Inbound  = "inbound"  // to local recipients from outside
	Internal = "internal" // a local sender to local recipients
)

// Actions of rules.
const (
	ActionSign            = "sign"              // sign with the sender's key
	ActionEncrypt         = "encrypt"           // encrypt for recipients with certificates; the others per NoCertificateAction
	ActionEncryptOrRefuse = "encrypt-or-refuse" // encrypt for every recipient, or refuse the message if one has no certificate
	ActionNone            = "none"              // no S/MIME at all (wins over everything else)
)

// Values of NoCertificateAction: what the gateway does for recipients
// without a usable certificate when encryption was asked for.
const (
	NoCertSendSigned = "send-signed" // deliver to them signed (if signing) but not encrypted
	NoCertRefuse     = "refuse"      // refuse the message for them (5xx at RCPT/DATA, or a bounce)
)

// Smime is the resolved S/MIME configuration for one scope (a sender for
// outbound mail, a recipient for inbound mail).
type Smime struct {
	AlwaysSign    bool
	AlwaysEncrypt bool
	// ClearSign: multipart/signed (true, the default) or opaque
	// application/pkcs7-mime signed-data.
	ClearSign  bool
	TripleWrap bool // sign, encrypt, sign again
	// EncryptionAlgorithms in order of preference: "aes256-gcm",
	// "aes128-gcm", "aes256-cbc", "aes128-cbc". GCM is used only for
	// recipients known to read AuthEnvelopedData.
	EncryptionAlgorithms []string
	// SigningAlgorithm: "sha256", "sha384" or "sha512".
	SigningAlgorithm string
	// IncludeCertificateChain: "none", "chain" (without the root, the
	// default) or "chain-with-root".
	IncludeCertificateChain string
	// SignedEmailCertificateInclusion: signed messages carry the signer's
	// certificate (true, the default) or only its identifier.
	SignedEmailCertificateInclusion bool
	IncludeSMIMECapabilities        bool
	UseKeyIdentifier                bool
	// BCCEncryptedEmailForking: 0 one message per Bcc recipient, 1 one
	// message for all Bcc recipients, 2 no forking (Bcc recipients in the
	// one message).
	BCCEncryptedEmailForking int
	NoCertificateAction      string // NoCertSendSigned or NoCertRefuse
	EncryptToSelf            bool   // add the sender's certificate so the sent copy stays readable
	CheckCRLOnSend           bool
	// LocalToLocal: "process" (apply S/MIME to internal mail) or "pass".
	LocalToLocal string
	// InboundSubjectTag is prepended to the subject of inbound mail whose
	// signature failed or could not be checked ("" for none).
	InboundSubjectTag string
	// Values holds every resolved setting by name, and From the level each
	// value came from.
	Values map[string]string
	From   map[string]string
	// User and Domain are the scope resolved: the address and its domain,
	// or "" for the organisation.
	User, Domain string
	// Warnings report stored values that were skipped: values that no
	// longer validate, and domain or user values of organisation-only
	// settings.
	Warnings []string
}

// Message is what rules look at.
type Message struct {
	Sender     string   // envelope sender (lower case); "" for bounces
	Recipients []string // envelope recipients
	Direction  string   // Outbound, Inbound or Internal
	// Local reports whether an address belongs to the organisation.
	Local func(addr string) bool
	// Subject is the decoded subject (RFC 2047 encoded words decoded).
	Subject string
	// Header gives a header field's values (canonical or any case name).
	Header func(name string) []string
}

// Rule is one policy rule: when every set condition holds, Action applies.
type Rule struct {
	ID          int64
	Priority    int // lower first
	Description string
	// Conditions; empty ones are not checked. Addresses and domains match
	// case-insensitively; a domain matches its subdomains too.
	Sender          string
	SenderDomain    string
	Recipient       string // any recipient
	RecipientDomain string // any recipient's domain
	Direction       string // Outbound, Inbound, Internal, or "external" (= Outbound)
	// SubjectTrigger matches when the subject contains it (case-
	// insensitively); it is removed from the subject before sending.
	SubjectTrigger string
	HeaderName     string // with HeaderValue: a header field contains the value (case-insensitive); alone: the field is present
	HeaderValue    string
	Action         string
}

// Decision is what applies to one message.
type Decision struct {
	Sign              bool
	Encrypt           bool
	RequireEncryption bool // encrypt-or-refuse
	None              bool // ActionNone matched: leave the message alone
	// RemoveFromSubject are the subject triggers to remove.
	RemoveFromSubject []string
	// Settings is the sender's (outbound, internal) or, for inbound mail,
	// the organisation's configuration.
	Settings *Smime
	// Rules are the IDs of the rules that matched, in priority order, and
	// Why says in words where each part of the decision came from
	// (`AlwaysSign=true (user alice@example.org)`,
	// `rule 3 "subject trigger [encrypt]": encrypt-or-refuse`).
	Rules []int64
	Why   []string
}

// Decider decides for one message; *Engine is the implementation.
type Decider interface {
	Decide(ctx context.Context, m *Message) (*Decision, error)
	// Resolve returns the configuration of a scope: user is an address
	// (its domain gives the domain level), "" for the organisation.
	Resolve(ctx context.Context, user string) (*Smime, error)
}
