package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
)

// adminPost sends an authenticated POST to the running daemon's admin
// listener and decodes its JSON answer into out; it returns the raw body.
func adminPost(listen, path, token string, out any) ([]byte, error) {
	return adminDo("POST", listen, path, token, out)
}

// adminGet is adminPost with GET.
func adminGet(listen, path, token string, out any) ([]byte, error) {
	return adminDo("GET", listen, path, token, out)
}

func adminDo(method, listen, path, token string, out any) ([]byte, error) {
	req, err := http.NewRequest(method, "http://"+listen+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("daemon answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return body, fmt.Errorf("daemon answered something other than JSON: %w", err)
	}
	return body, nil
}

// adminToken returns admin.token, or the first line of admin.token_file.
func adminToken(c config.Config) (string, error) {
	if c.Admin.TokenFile != "" {
		b, err := os.ReadFile(c.Admin.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w", err)
		}
		t, _, _ := strings.Cut(string(b), "\n")
		t = strings.TrimSpace(t)
		if t == "" {
			return "", fmt.Errorf("admin.token_file: %s is empty", c.Admin.TokenFile)
		}
		return t, nil
	}
	return c.Admin.Token, nil
}
