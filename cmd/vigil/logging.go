package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// routeLibraryLogs sends what libraries log on their own through log, in
// Vigil's level and format, instead of their own lines on standard error:
// the standard library's log package (used by libraries that print
// warnings) through slog.SetDefault, and go-redis's logger (connection
// pool failures) through its SetLogger hook. The milter library's warnings
// are routed by the milter package.
func routeLibraryLogs(log *slog.Logger) {
	slog.SetDefault(log)
	redis.SetLogger(redisLog{log})
}

// redisLog adapts go-redis's Printf-style logger. Everything it logs is
// about the connection to the store (dial failures, pool state): warnings.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	if !strings.HasPrefix(msg, "redis: ") {
		msg = "redis: " + msg
	}
	r.log.WarnContext(ctx, msg, "library", "go-redis")
}
