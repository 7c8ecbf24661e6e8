package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"

	"github.com/signet-smime/signet/keystore"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

// The data folder holds signet.db (the store) and, when no passphrase is
// used, master.key (the key file that seals the private keys).
const (
	dbName         = "signet.db"
	keyFileName    = "master.key"
	settingKDF     = "keystore.kdf"      // Argon2id parameters of the passphrase
	settingVerify  = "keystore.verifier" // checks the master key before use
	settingKeyMode = "keystore.mode"     // "passphrase" or "keyfile"
)

// dataDir is the --data flag: default $SIGNET_DATA, else ./signet-data.
var dataDir string

func addDataFlag(root *cobra.Command) {
	def := os.Getenv("SIGNET_DATA")
	if def == "" {
		def = "signet-data"
	}
	root.PersistentFlags().StringVar(&dataDir, "data", def, "the data `DIR` (default $SIGNET_DATA, else ./signet-data)")
}

func actor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

// openService opens an initialised data folder and its master key.
func openService(ctx context.Context) (*pki.Service, error) {
	if _, err := os.Stat(filepath.Join(dataDir, dbName)); err != nil {
		return nil, fmt.Errorf("%s is not a Signet data folder (run \"signet init\" or \"signet serve\" first, or give --data)", dataDir)
	}
	st, err := store.Open(ctx, filepath.Join(dataDir, dbName))
	if err != nil {
		return nil, err
	}
	m, err := openMaster(ctx, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc := &pki.Service{Store: st, Master: m, Actor: actor()}
	if err := attachToken(svc, os.Getenv(envPKCS11)); err != nil {
		st.Close()
		return nil, err
	}
	return svc, nil
}

// envPKCS11 names the PKCS #11 token that holds the CA keys, for the
// commands that sign with them ("MODULE_PATH:TOKEN_LABEL" or an RFC 7512
// pkcs11: URI); the PIN comes from SIGNET_PKCS11_PIN. It is read from the
// environment on every run and never from the store, so that nobody who can
// write the database can make Signet load a library.
const envPKCS11 = "SIGNET_PKCS11"

// attachToken opens the token named by spec, if any, for svc. It stays open
// until the process ends.
func attachToken(svc *pki.Service, spec string) error {
	if spec == "" {
		return nil
	}
	cfg, err := keystore.ParsePKCS11URI(spec)
	if err != nil {
		return err
	}
	tok, err := keystore.OpenToken(cfg)
	if err != nil {
		return err
	}
	svc.Token = tok
	return nil
}

func openMaster(ctx context.Context, st store.Store) (*keystore.MasterKey, error) {
	mode, _, err := st.GetSetting(ctx, settingKeyMode)
	if err != nil {
		return nil, err
	}
	var m *keystore.MasterKey
	switch mode {
	case "passphrase":
		pass := os.Getenv(keystore.PassphraseEnv)
		if pass == "" {
			return nil, fmt.Errorf("this data folder's keys are sealed with a passphrase: set %s", keystore.PassphraseEnv)
		}
		ps, _, err := st.GetSetting(ctx, settingKDF)
		if err != nil {
			return nil, err
		}
		params, err := keystore.ParseKDFParams(ps)
		if err != nil {
			return nil, err
		}
		if m, err = keystore.MasterFromPassphrase([]byte(pass), params); err != nil {
			return nil, err
		}
	case "keyfile":
		if m, err = keystore.LoadKeyFile(filepath.Join(dataDir, keyFileName)); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("the data folder has no key settings: it was not initialised completely")
	}
	v, _, err := st.GetSetting(ctx, settingVerify)
	if err != nil {
		return nil, err
	}
	vb, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, errors.New("the data folder's key verifier is damaged")
	}
	if err := m.Verify(vb); err != nil {
		if errors.Is(err, keystore.ErrWrongPassphrase) {
			return nil, fmt.Errorf("wrong %s: it does not open this data folder's keys", keystore.PassphraseEnv)
		}
		return nil, err
	}
	return m, nil
}

// createService makes a new data folder with its store and master key.
// With SIGNET_PASSPHRASE the master key comes from it (Argon2id);
// otherwise a key file is made, and a warning says it is for trials.
func createService(ctx context.Context, warn io.Writer) (*pki.Service, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, filepath.Join(dataDir, dbName))
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*pki.Service, error) { st.Close(); return nil, err }
	if _, err := st.GetCA(ctx); err == nil {
		return fail(fmt.Errorf("%s already holds an organisation's CA", dataDir))
	}
	var m *keystore.MasterKey
	var mode string
	if pass := os.Getenv(keystore.PassphraseEnv); pass != "" {
		params, err := keystore.NewKDFParams()
		if err != nil {
			return fail(err)
		}
		if m, err = keystore.MasterFromPassphrase([]byte(pass), params); err != nil {
			return fail(err)
		}
		if err := st.SetSetting(ctx, settingKDF, params.String(), actor()); err != nil {
			return fail(err)
		}
		mode = "passphrase"
	} else {
		if m, err = keystore.NewKeyFile(filepath.Join(dataDir, keyFileName)); err != nil {
			return fail(err)
		}
		mode = "keyfile"
		fmt.Fprintf(warn, "signet: warning: no %s: the private keys are sealed with the key file %s, which sits beside them.\n"+
			"signet: warning: that is for trials only; for real use set %s before \"signet init\" (or keep the key file elsewhere).\n",
			keystore.PassphraseEnv, filepath.Join(dataDir, keyFileName), keystore.PassphraseEnv)
	}
	if err := st.SetSetting(ctx, settingVerify, base64.StdEncoding.EncodeToString(m.Verifier()), actor()); err != nil {
		return fail(err)
	}
	if err := st.SetSetting(ctx, settingKeyMode, mode, actor()); err != nil {
		return fail(err)
	}
	return &pki.Service{Store: st, Master: m, Actor: actor()}, nil
}
