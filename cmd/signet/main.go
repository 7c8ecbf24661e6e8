// Command signet is Signet's single binary: S/MIME for a whole
// organisation, and openssl-cms-like verbs for a single message.
//
// Exit codes: 0 success; 1 the operation failed (bad signature, untrusted
// certificate, decryption failure, unreadable input); 2 the command line
// is wrong.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError marks errors in the command line itself (exit code 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// failure is an operational failure already explained (exit code 1).
type failure struct{ msg string }

func (f failure) Error() string { return f.msg }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "signet",
		Short: "S/MIME signing, encryption and verification for people and organisations",
		Long: `Signet signs, verifies, encrypts and decrypts S/MIME e-mail (RFC 8551).

Single-message verbs work like "openssl cms", on whole RFC 5322 messages:
they read standard input and write standard output unless --in/--out are
given, keep the message fields (From, To, Subject …) outside, and stream,
so a message of any size is processed in constant memory.

Exit codes: 0 success, 1 the operation failed, 2 bad command line.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	addDataFlag(root)
	root.AddCommand(newSignCommand(), newVerifyCommand(), newEncryptCommand(), newDecryptCommand(), newDemoCommand(),
		newInitCommand(), newCACommand(), newCertCommand(), newServeCommand(), newConfigCommand(), newTrustCommand(), newDirectoryCommand(),
		newUserCommand(), newGroupCommand(), newContactCommand(), newLookupCommand(), newPolicyCommand())
	return root
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "signet: %v\n", err)
	return exitCode(err)
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return 2
	}
	return 1
}

// isCobraUsage recognises cobra's own errors about commands and arguments.
func isCobraUsage(err error) bool {
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least",
		"required flag", "invalid argument", "flag needs an argument", "if any flags in the group", "none of the others can be"} {
		if strings.Contains(err.Error(), p) {
			return true
		}
	}
	return false
}
