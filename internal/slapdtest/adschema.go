package slapdtest

// adSchema is a small stand-in for the Active Directory schema: the
// attributes and classes the upstream package reads from AD, with AD's own
// OIDs and names, and matching rules so that they can be searched (AD
// matches proxyAddresses case-insensitively, whenChanged by order, and
// userAccountControl with the bitwise matching rule, which slapd also has).
// Its classes are simplified: user, contact and computer are structural
// subclasses of organizationalPerson, group one of top; none requires AD's
// system attributes (objectCategory, nTSecurityDescriptor…).
// userCertificate comes from core and userSMIMECertificate from
// inetorgperson, with their standard OIDs, as in AD.
const adSchema = `# AD-like schema for tests (signet internal/slapdtest)
attributetype ( 1.2.840.113556.1.2.210 NAME 'proxyAddresses'
	EQUALITY caseIgnoreMatch
	SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
	EQUALITY octetStringMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.3 NAME 'whenChanged'
	EQUALITY generalizedTimeMatch
	ORDERING generalizedTimeOrderingMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
	EQUALITY caseIgnoreMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.750 NAME 'groupType'
	EQUALITY integerMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user'
	SUP organizationalPerson STRUCTURAL
	MAY ( mail $ displayName $ givenName $ userCertificate $ userSMIMECertificate $
		proxyAddresses $ userAccountControl $ objectGUID $ whenChanged $
		sAMAccountName $ userPassword ) )
objectclass ( 1.2.840.113556.1.3.30 NAME 'computer'
	SUP user STRUCTURAL )
objectclass ( 1.2.840.113556.1.5.15 NAME 'contact'
	SUP organizationalPerson STRUCTURAL
	MAY ( mail $ displayName $ givenName $ userCertificate $ userSMIMECertificate $
		proxyAddresses $ objectGUID $ whenChanged ) )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group'
	SUP top STRUCTURAL
	MUST cn
	MAY ( member $ mail $ displayName $ description $ proxyAddresses $
		objectGUID $ whenChanged $ groupType $ sAMAccountName ) )
`
