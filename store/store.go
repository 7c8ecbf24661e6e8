// Package store keeps everything Signet remembers between runs: the CA's
// state, certificates (Signet's own and third parties'), sealed private
// keys, users (the organisation's mailboxes), organisation-wide settings
// and the audit log.
//
// # One interface, several databases
//
// [Store] is the only thing the rest of Signet uses. [SQLite] is the embedded
// implementation (pure Go, modernc.org/sqlite), so `signet serve` works with
// no set-up: [Open] creates DIR/signet.db on first use. A PostgreSQL
// implementation, for several Signet nodes sharing one state, is meant to be
// a second dialect of the same SQL code: the queries use only SQL that both
// databases accept (ON CONFLICT upserts, RETURNING, partial indexes), with
// `?` placeholders rewritten in one place (sqlStore's exec and query helpers
// call dialect.rebind), and the schema migrations spell the two
// non-portable column types as {bytes} and {id}, which each dialect expands.
// The test suite (runStoreSuite in the tests) takes a constructor, so the
// PostgreSQL implementation is checked by the same tests.
//
// # Audit
//
// Every method that changes state writes an [AuditEntry] in the same
// transaction as the change: if the entry cannot be written, the change is
// rolled back, and a change never lands without its entry. Mutating methods
// take the acting principal as an explicit actor argument (for example
// "cli:alice" or "http:admin@example.org"); it must not be empty. Reads write
// nothing. Audit details never carry key material, certificate bodies or
// setting values (a setting may hold a credential); they record what changed,
// not the secret itself.
//
// # Keys
//
// The store never sees a plaintext private key. The keystore package seals
// each key with its own data key and seals the data key with the master key;
// the store only keeps the two sealed blobs ([SealedKey].Sealed and
// [SealedKey].Wrapped) and never interprets them. For keys held in a PKCS#11
// token, Sealed and Wrapped may be empty and Label names the token object.
//
// # Conventions
//
// Times are stored as unix seconds (BIGINT) and returned in UTC, truncated to
// the second; a zero CreatedAt or At is set to the current time. Certificate
// fingerprints are lower-case SHA-256 hex of the DER; serials are lower-case
// hex without leading zeros (as [math/big.Int.Text](16) writes them);
// e-mail addresses are kept in lower case and matched case-insensitively.
// Errors wrap the sentinels below, so callers test them with [errors.Is].
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Methods wrap them with context ("store: certificate
// ab12…: not found"); test with errors.Is.
var (
	// ErrNotFound: the key, certificate, user or row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotInitialized: there is no CA yet (GetCA, NextCRLNumber before SetCA).
	ErrNotInitialized = errors.New("CA not initialized")
	// ErrAlreadyRevoked: RevokeCertificate on a certificate already revoked.
	ErrAlreadyRevoked = errors.New("already revoked")
	// ErrExists: a key id, certificate fingerprint, or issuer and serial pair
	// is already stored.
	ErrExists = errors.New("already exists")
	// ErrInvalid: an argument fails validation (empty actor, malformed
	// fingerprint, serial or e-mail address, unknown usage, fingerprint not
	// matching the DER…), or the operation is not allowed in the current
	// state (deleting a user who still has certificates).
	ErrInvalid = errors.New("invalid argument")
)

// Certificate usages, for [Certificate].Usage.
const (
	UsageSign      = "sign"       // digitalSignature only
	UsageEncrypt   = "encrypt"    // keyEncipherment or keyAgreement only
	UsageBoth      = "both"       // one dual-use certificate
	UsageCARoot    = "ca-root"    // Signet's root CA
	UsageCAIssuing = "ca-issuing" // Signet's issuing CA
)

// Certificate statuses, for [Certificate].Status.
const (
	StatusValid   = "valid"
	StatusRevoked = "revoked"
)

// Recipient kinds, for [User].Kind.
const (
	KindMailbox = "mailbox" // one of the organisation's mailboxes (the default)
	KindContact = "contact" // an external correspondent, with the certificates imported for it
	KindGroup   = "group"   // a distribution list: its members are addresses (see SetGroupMembers)
)

// Certificate sources, for [Certificate].Source: where a certificate came
// from. Certificates stored before the directory existed have "".
const (
	SourceIssued    = "issued"    // issued by Signet's CA
	SourceImported  = "imported"  // imported with its key (cert import, PKCS #12)
	SourceContact   = "contact"   // added for an external contact (contact add)
	SourceHarvested = "harvested" // taken from a validly signed message
	SourceSynced    = "synced"    // read from an upstream directory (directory sync)
)

// User statuses, for [User].Status.
const (
	UserActive   = "active"
	UserDisabled = "disabled" // kept with its certificates, but not to be served
)

// Key backends, for [SealedKey].Backend.
const (
	BackendSoft   = "soft"   // sealed by the keystore, blobs kept here
	BackendPKCS11 = "pkcs11" // kept in a PKCS#11 token, Label names it
)

// Audit actions written by the store's own mutating methods. Callers may
// record other actions with [Store.Audit] (for example "certificate.export").
const (
	ActionSettingSet        = "setting.set"
	ActionKeyPut            = "key.put"
	ActionKeyDelete         = "key.delete"
	ActionCertificatePut    = "certificate.put"
	ActionCertificateRevoke = "certificate.revoke"
	ActionCASet             = "ca.set"
	ActionCRLNumber         = "ca.crl-number"
	ActionUserPut           = "user.put"
	ActionUserDisable       = "user.disable"
	ActionUserDelete        = "user.delete"
	ActionTrustPut          = "trust.put"
	ActionTrustDelete       = "trust.delete"
	ActionAliasesSet        = "user.aliases"
	ActionMembersSet        = "group.members"
	ActionPreferredSet      = "user.preferred"
	ActionAccountPut        = "directory-account.put"
	ActionAccountDelete     = "directory-account.delete"
	ActionScopedSettingSet  = "setting.set-scoped"
	ActionScopedSettingDel  = "setting.delete-scoped"
	ActionRulePut           = "policy.rule-put"
	ActionRuleDelete        = "policy.rule-delete"
	ActionCapabilitiesSet   = "capabilities.set"
)

// Store is everything Signet keeps. Implementations must be safe for
// concurrent use by several goroutines (and, for shared databases, several
// processes), and must write each mutation and its audit entry atomically.
type Store interface {
	// GetSetting returns a setting's value; ok is false when it is not set.
	GetSetting(ctx context.Context, name string) (value string, ok bool, err error)
	// SetSetting creates or replaces a setting.
	SetSetting(ctx context.Context, name, value, actor string) error
	// ListSettings returns all settings ordered by name.
	ListSettings(ctx context.Context) ([]Setting, error)

	// PutKey stores a new sealed key; ErrExists if the id is taken.
	PutKey(ctx context.Context, k SealedKey, actor string) error
	// GetKey returns a sealed key; ErrNotFound if absent.
	GetKey(ctx context.Context, id string) (*SealedKey, error)
	// ListKeys returns all sealed keys ordered by id (to re-wrap data keys
	// when the master key changes).
	ListKeys(ctx context.Context) ([]SealedKey, error)
	// DeleteKey removes a sealed key; certificates that referred to it keep
	// their record with KeyID "" (Signet no longer holds the key).
	DeleteKey(ctx context.Context, id, actor string) error

	// PutCertificate stores a new certificate; ErrExists if its fingerprint,
	// or its issuer fingerprint and serial, is already stored. An empty
	// Fingerprint is computed from DER; a given one must match it. KeyID, if
	// set, must name a stored key.
	PutCertificate(ctx context.Context, c Certificate, actor string) error
	// GetCertificate returns a certificate by fingerprint.
	GetCertificate(ctx context.Context, fingerprint string) (*Certificate, error)
	// GetCertificateBySerial returns the certificate an issuer issued with a
	// serial (for OCSP and `ca revoke --serial`).
	GetCertificateBySerial(ctx context.Context, issuerFingerprint, serialHex string) (*Certificate, error)
	// ListCertificates returns the certificates matching f, ordered by
	// e-mail, then NotBefore, then fingerprint.
	ListCertificates(ctx context.Context, f CertFilter) ([]Certificate, error)
	// RevokeCertificate marks a certificate revoked with an RFC 5280 reason
	// code (0–10, not 7) at time at (now if zero); ErrAlreadyRevoked if it
	// was revoked before, ErrNotFound if absent.
	RevokeCertificate(ctx context.Context, fingerprint string, reason int, at time.Time, actor string) error
	// ListRevoked returns what a CRL from the issuer must list, ordered by
	// revocation time then serial.
	ListRevoked(ctx context.Context, issuerFingerprint string) ([]Revoked, error)

	// SetCA creates or updates the CA record. Both fingerprints must name
	// stored certificates. The CRL number never goes down: the stored one is
	// kept if it is higher than ca.CRLNumber.
	SetCA(ctx context.Context, ca CAInfo, actor string) error
	// GetCA returns the CA record; ErrNotInitialized if there is none.
	GetCA(ctx context.Context) (*CAInfo, error)
	// NextCRLNumber atomically increments the CRL number and returns the
	// new value; ErrNotInitialized if there is no CA.
	NextCRLNumber(ctx context.Context, actor string) (int64, error)

	// PutUser creates a user or updates an existing one's display name,
	// status, kind, source and external id. The address is lower-cased and
	// must have one @ with text on both sides and no spaces (ErrInvalid
	// otherwise); it may not be another recipient's alias (ErrExists). An
	// empty Status, Kind, Source or ExternalID means UserActive, KindMailbox,
	// "" and "" for a new user and leaves an existing user's value as it
	// is. Aliases and preferences are not written here. CreatedAt is kept on update (now if zero on insert); UpdatedAt is
	// always set to now.
	PutUser(ctx context.Context, u User, actor string) error
	// GetUser returns a user by address (any case); ErrNotFound if absent.
	GetUser(ctx context.Context, email string) (*User, error)
	// ListUsers returns the users matching f, ordered by address.
	ListUsers(ctx context.Context, f UserFilter) ([]User, error)
	// DisableUser sets a user's status to UserDisabled, keeping the user's
	// certificates; ErrNotFound if absent. Disabling a disabled user
	// succeeds (and is audited).
	DisableUser(ctx context.Context, email, actor string) error
	// DeleteUser removes a user; ErrNotFound if absent. It refuses with
	// ErrInvalid while any certificate in the store (revoked or not) names
	// the address, as primary address or in Emails: disable the user instead.
	DeleteUser(ctx context.Context, email, actor string) error

	// SetAliases replaces a recipient's alias addresses (Exchange's proxy
	// addresses). An alias may belong to one recipient only and may not be
	// any recipient's primary address (ErrExists); ErrNotFound if the
	// recipient does not exist.
	SetAliases(ctx context.Context, email string, aliases []string, actor string) error
	// ResolveAddress returns the recipient whose primary address or alias is
	// addr; alias reports which. ErrNotFound if none.
	ResolveAddress(ctx context.Context, addr string) (u *User, alias bool, err error)
	// SetGroupMembers replaces a group's members (addresses: mailboxes,
	// contacts, other groups or unknown addresses). The group must exist
	// with Kind KindGroup.
	SetGroupMembers(ctx context.Context, group string, members []string, actor string) error
	// GroupMembers returns a group's members, ordered.
	GroupMembers(ctx context.Context, group string) ([]string, error)
	// SetPreferred records which certificate a recipient prefers for usage
	// (UsageSign or UsageEncrypt); "" clears it. The certificate must name
	// the recipient's address.
	SetPreferred(ctx context.Context, email, usage, fingerprint, actor string) error

	// PutDirectoryAccount creates or replaces an account admin tools bind
	// with to the LDAP server; hash is the password's encoded hash (the
	// store never sees the password).
	PutDirectoryAccount(ctx context.Context, name, hash, actor string) error
	// DirectoryAccount returns an account's password hash; ErrNotFound.
	DirectoryAccount(ctx context.Context, name string) (hash string, err error)
	// ListDirectoryAccounts returns the account names, ordered.
	ListDirectoryAccounts(ctx context.Context) ([]string, error)
	// DeleteDirectoryAccount removes an account; ErrNotFound if absent.
	DeleteDirectoryAccount(ctx context.Context, name, actor string) error

	// SetScopedSetting sets a setting for one domain ("domain:example.org")
	// or one user ("user:alice@example.org"); the scope is lower-cased.
	SetScopedSetting(ctx context.Context, scope, name, value, actor string) error
	// DeleteScopedSetting removes one; ErrNotFound if it is not set.
	DeleteScopedSetting(ctx context.Context, scope, name, actor string) error
	// ListScopedSettings returns the settings of a scope, or of every scope
	// when scope is "", ordered by scope then name.
	ListScopedSettings(ctx context.Context, scope string) ([]ScopedSetting, error)

	// PutRule stores a new policy rule (Spec is the policy package's
	// encoding) and returns its id.
	PutRule(ctx context.Context, r PolicyRule, actor string) (int64, error)
	// ListRules returns the rules ordered by priority, then id.
	ListRules(ctx context.Context) ([]PolicyRule, error)
	// DeleteRule removes a rule; ErrNotFound if absent.
	DeleteRule(ctx context.Context, id int64, actor string) error

	// SetCapabilities records the ciphers an address announced
	// (SMIMECapabilities, names such as "aes256-gcm", in its order of
	// preference), replacing what was known.
	SetCapabilities(ctx context.Context, email string, ciphers []string, actor string) error
	// Capabilities returns them; ErrNotFound when nothing is known.
	Capabilities(ctx context.Context, email string) ([]string, time.Time, error)

	// ChangeMark returns a number that grows whenever anything in the store
	// changes (every change writes an audit entry: it is the newest entry's
	// id). Caches, such as the LDAP server's snapshot, poll it.
	ChangeMark(ctx context.Context) (int64, error)

	// PutTrustCert adds a certificate to the trust collection; ErrExists if
	// its fingerprint is already there. An empty Fingerprint is computed
	// from DER; a given one must match it. Kind must be TrustAnchor or
	// TrustIntermediate; a zero AddedAt is now.
	PutTrustCert(ctx context.Context, c TrustCert, actor string) error
	// PutTrustCerts adds several in one transaction: all or none.
	PutTrustCerts(ctx context.Context, cs []TrustCert, actor string) error
	// GetTrustCert returns a trust collection certificate by fingerprint;
	// ErrNotFound if absent.
	GetTrustCert(ctx context.Context, fingerprint string) (*TrustCert, error)
	// ListTrustCerts returns the trust collection ordered by NotAfter
	// (earliest expiry first), then fingerprint.
	ListTrustCerts(ctx context.Context) ([]TrustCert, error)
	// DeleteTrustCert removes a certificate from the trust collection;
	// ErrNotFound if absent.
	DeleteTrustCert(ctx context.Context, fingerprint, actor string) error

	// Audit records an entry (At defaults to now; Actor and Action are
	// required). Use it for events the store does not see, such as exports.
	Audit(ctx context.Context, e AuditEntry) error
	// ListAudit returns entries matching f, oldest first unless f.Newest.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// Close releases the database.
	Close() error
}

// ScopedSetting is a setting of one domain or user.
type ScopedSetting struct {
	Scope     string // "domain:example.org" or "user:alice@example.org"
	Name      string
	Value     string
	UpdatedAt time.Time
}

// PolicyRule is a stored policy rule.
type PolicyRule struct {
	ID        int64
	Priority  int
	Spec      string // the rule, encoded by the policy package (JSON)
	CreatedAt time.Time
}

// Setting is one organisation-wide setting.
type Setting struct {
	Name      string
	Value     string
	UpdatedAt time.Time
}

// SealedKey is a private key as the keystore seals it. The store never sees
// the plaintext key.
type SealedKey struct {
	ID        string
	Algorithm string // for example "ecdsa-p256", "rsa-3072", "ed25519"
	Sealed    []byte // the private key, sealed with the data key
	Wrapped   []byte // the data key, sealed by the master key
	Backend   string // BackendSoft or BackendPKCS11
	Label     string // human label; for PKCS#11, the token object's label
	CreatedAt time.Time
}

// Certificate is a certificate Signet issued or imported.
type Certificate struct {
	Fingerprint       string // SHA-256 hex of DER, primary key
	Serial            string // hex
	Issuer            string // issuer DN, for display
	Subject           string // subject DN, for display
	Email             string // lower-case primary address ("" for CAs)
	Emails            []string
	Usage             string // UsageSign, UsageEncrypt, UsageBoth, UsageCARoot, UsageCAIssuing
	Profile           string // "strict", "multipurpose", or "" for third-party/CA
	NotBefore         time.Time
	NotAfter          time.Time
	DER               []byte
	KeyID             string // sealed key id, or "" when Signet holds no key
	ThirdParty        bool   // issued by another CA
	Status            string // StatusValid or StatusRevoked ("" means valid on Put)
	RevokedAt         time.Time
	RevocationReason  int
	IssuerFingerprint string // fingerprint of the issuer's certificate, if known
	Source            string // SourceIssued, SourceImported, … ("" for certificates stored before it existed)
	CreatedAt         time.Time
}

// Trust collection kinds, for [TrustCert].Kind.
const (
	TrustAnchor       = "anchor"       // a trust anchor (self-signed, or no issuer in the collection)
	TrustIntermediate = "intermediate" // a CA certificate whose issuer is in the collection
)

// TrustCert is one certificate of the trust collection: the anchors and
// intermediates that certificate validation trusts.
type TrustCert struct {
	Fingerprint string // SHA-256 hex of DER, primary key
	Subject     string // subject DN, for display
	Issuer      string // issuer DN, for display
	NotBefore   time.Time
	NotAfter    time.Time
	DER         []byte
	Kind        string // TrustAnchor or TrustIntermediate
	Label       string // human label (for example an SST friendly name)
	Source      string // where it came from: file name and format
	AddedAt     time.Time
}

// CertFilter selects certificates; zero fields match everything.
type CertFilter struct {
	Email             string // matches the primary address or any of Emails
	Usage             string // exact match
	IncludeRevoked    bool   // by default only valid certificates are listed
	IssuerFingerprint string
	ThirdParty        *bool
	Source            string // exact match
}

// Revoked is one CRL entry.
type Revoked struct {
	Serial      string
	Fingerprint string
	RevokedAt   time.Time
	Reason      int       // RFC 5280 CRLReason code
	NotAfter    time.Time // the certificate's expiry, for CRL pruning
}

// CAInfo is the state of Signet's CA.
type CAInfo struct {
	RootFingerprint    string
	IssuingFingerprint string
	Org                string
	Domains            []string
	PublicURL          string
	CRLNumber          int64 // the last CRL number used
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// User is a recipient in the directory: one of the organisation's
// mailboxes, an external contact or a distribution group.
type User struct {
	Email       string // lower-case primary address, primary key
	DisplayName string
	Status      string // UserActive or UserDisabled
	Kind        string // KindMailbox (default), KindContact or KindGroup
	Source      string // "" when made here; for synced recipients the upstream directory's URL
	ExternalID  string // the upstream directory's stable id (objectGUID, entryUUID)
	// Aliases are further addresses of the recipient, lower case, ordered;
	// filled by GetUser, ResolveAddress and ListUsers, written only by
	// SetAliases (PutUser ignores them).
	Aliases []string
	// PreferredSign and PreferredEncrypt are the fingerprints of the
	// certificates the recipient prefers, or ""; written by SetPreferred.
	PreferredSign    string
	PreferredEncrypt string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// UserFilter selects users; zero fields match everything.
type UserFilter struct {
	Status string // UserActive or UserDisabled
	Kind   string // KindMailbox, KindContact or KindGroup
	Source string // exact match
	Prefix string // addresses starting with this (any case)
	Limit  int    // at most this many (0: no limit)
}

// AuditEntry is one line of the audit log: who did what to what, and when.
type AuditEntry struct {
	ID      int64 // assigned by the store; increasing
	At      time.Time
	Actor   string
	Action  string
	Subject string // what was acted on: a setting name, key id, fingerprint…
	Detail  string // free text; never key material
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Since   time.Time // entries at or after this time
	Action  string
	Subject string
	Limit   int  // at most this many (0: no limit)
	Newest  bool // newest first (with Limit: the latest Limit entries)
}
