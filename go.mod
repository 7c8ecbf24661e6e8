module github.com/signet-smime/signet

go 1.26.8

require (
	github.com/spf13/cobra v1.10.2
	golang.org/x/crypto v0.59.0
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)
