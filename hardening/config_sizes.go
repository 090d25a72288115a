package hardening

// Sizes in the configuration ("512M", 1073741824).

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

func parseSizeValue(k string, v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x <= 0 {
			return 0, fmt.Errorf("key %s: must be positive", k)
		}
		return x, nil
	case string:
		n, err := ParseSize(x)
		if err != nil {
			return 0, fmt.Errorf("key %s: %v", k, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("key %s: must be a size like \"128M\" or a number of bytes", k)
}

// ParseSize parses "128M", "64Mi", "1G", "65536k", "4096" (bytes, binary units).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(1)
	l := strings.ToLower(t)
	l = strings.TrimSuffix(strings.TrimSuffix(l, "b"), "i")
	if n := len(l); n > 0 {
		switch l[n-1] {
		case 'k':
			mult, l = 1<<10, l[:n-1]
		case 'm':
			mult, l = 1<<20, l[:n-1]
		case 'g':
			mult, l = 1<<30, l[:n-1]
		case 't':
			mult, l = 1<<40, l[:n-1]
		}
	}
	n, err := strconv.ParseInt(l, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}
