package runtime

import (
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// phaseTimer logs, at debug level, how long each phase of a verb took, so the
// breakdown of a start is visible with --debug and no profiler.
type phaseTimer struct {
	verb, id string
	start    time.Time
	last     time.Time
	parts    []string
}

func newPhaseTimer(verb, id string) *phaseTimer {
	now := time.Now()
	return &phaseTimer{verb: verb, id: id, start: now, last: now}
}

func (t *phaseTimer) mark(phase string) {
	if !logrus.IsLevelEnabled(logrus.DebugLevel) {
		return
	}
	now := time.Now()
	t.parts = append(t.parts, phase+"="+now.Sub(t.last).Round(10*time.Microsecond).String())
	t.last = now
}

func (t *phaseTimer) done() {
	if !logrus.IsLevelEnabled(logrus.DebugLevel) || len(t.parts) == 0 {
		return
	}
	logrus.Debugf("phases %s %s: %s total=%s", t.verb, t.id, strings.Join(t.parts, " "),
		time.Since(t.start).Round(10*time.Microsecond))
}
