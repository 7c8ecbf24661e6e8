package cms

import "encoding/asn1"

// Object identifiers used by the package.
var (
	OIDData              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDEnvelopedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	OIDAuthEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}

	oidAttrContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	// OIDAttrSMIMECapabilities is the S/MIME capabilities signed attribute (RFC 8551 2.5.2).
	OIDAttrSMIMECapabilities = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 15}
	// OIDAttrEncryptionKeyPreference is SMIMEEncryptionKeyPreference (RFC 8551 2.5.3).
	OIDAttrEncryptionKeyPreference = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 11}

	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidSHA224 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidMD5    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}

	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAOAEP       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidPSpecified    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 9}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidSHA224WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 14}
	oidMD5WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}

	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSAWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithSHA224 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidDSA             = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidDSAWithSHA1     = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 3}
	oidDSAWithSHA256   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 2}
	oidEd25519         = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidX25519          = asn1.ObjectIdentifier{1, 3, 101, 110}

	oidCurveP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidCurveP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidCurveP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}

	oidAES128CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAES128GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	oidAES192GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 26}
	oidAES256GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
	oidDES3CBC   = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidRC2CBC    = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 2}

	oidAES128Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 5}
	oidAES192Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 25}
	oidAES256Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 45}

	// ECDH key agreement schemes (RFC 5753, SEC 1) and X25519 (RFC 8418).
	oidECDHStdSHA1KDF   = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 2}
	oidECDHStdSHA224KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 0}
	oidECDHStdSHA256KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 1}
	oidECDHStdSHA384KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 2}
	oidECDHStdSHA512KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 3}
	oidECDHCofSHA1KDF   = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 3}
	oidECDHCofSHA224KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 0}
	oidECDHCofSHA256KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 1}
	oidECDHCofSHA384KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 2}
	oidECDHCofSHA512KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 3}
	oidECDHHKDFSHA256   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 3, 19}
	oidECDHHKDFSHA384   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 3, 20}
	oidECDHHKDFSHA512   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 3, 21}
)
