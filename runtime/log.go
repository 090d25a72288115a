package runtime

import (
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
)

// SetupLogging points logrus at --log (or stderr) in the --log-format the
// caller asked for. Engines (containerd's shim, conmon) show the user the last
// JSON line with level "error" from that file.
func SetupLogging(g *Global) error {
	if g.Debug {
		logrus.SetLevel(logrus.DebugLevel)
	} else {
		logrus.SetLevel(logrus.InfoLevel)
	}
	if g.Log != "" {
		f, err := os.OpenFile(g.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %q: %w", g.Log, err)
		}
		logrus.SetOutput(f)
	} else {
		logrus.SetOutput(os.Stderr)
	}
	switch g.LogFormat {
	case "", "text":
		logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true})
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
	default:
		return fmt.Errorf("--log-format %q: must be text or json", g.LogFormat)
	}
	return nil
}

// ReportError logs err at error level and, when the log goes to a file, also
// prints it on stderr so the person or engine calling us sees it either way.
func ReportError(g *Global, err error) {
	if g.Log != "" {
		logrus.Error(err.Error())
	}
	fmt.Fprintln(os.Stderr, "tenantrun:", err)
}
