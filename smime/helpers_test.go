package smime

import "encoding/base64"

func base64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out string
	for len(s) > 76 {
		out += s[:76] + "\r\n"
		s = s[76:]
	}
	return out + s
}
