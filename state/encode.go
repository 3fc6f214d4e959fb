package state

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// timeLayout is RFC 3339 in UTC with a fixed nine-digit fraction. The fixed
// width matters: with time.RFC3339Nano trailing zeros are dropped, and
// "…05Z" would sort after "…05.5Z", so ORDER BY on a time column would lie.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// timeArg is the column value of t: NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

// idArg is the column value of a reference: NULL for 0, so that foreign keys
// accept "no step" and "no host".
func idArg(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// envsArg encodes a list of environment names as JSON text; nil is "[]".
func envsArg(envs []string) (string, error) {
	if envs == nil {
		envs = []string{}
	}
	b, err := json.Marshal(envs)
	if err != nil {
		return "", fmt.Errorf("encode environments %q: %w", envs, err)
	}
	return string(b), nil
}

// timeCol scans a nullable time column into *t (zero for NULL).
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	s, ok, err := textValue(v)
	if err != nil || !ok {
		*c.t = time.Time{}
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("stored time %q is not RFC 3339: %w", s, err)
	}
	*c.t = t.UTC()
	return nil
}

// idCol scans a nullable reference into *id (0 for NULL).
type idCol struct{ id *int64 }

func (c idCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.id = 0
	case int64:
		*c.id = v
	default:
		return fmt.Errorf("stored id has type %T, want integer", v)
	}
	return nil
}

// envsCol scans JSON text into *envs (nil when empty).
type envsCol struct{ envs *[]string }

func (c envsCol) Scan(v any) error {
	*c.envs = nil
	s, ok, err := textValue(v)
	if err != nil || !ok || s == "" {
		return err
	}
	var envs []string
	if err := json.Unmarshal([]byte(s), &envs); err != nil {
		return fmt.Errorf("stored environments %q are not a JSON list: %w", s, err)
	}
	if len(envs) > 0 {
		*c.envs = envs
	}
	return nil
}

// textValue returns the text of a column value; ok is false for NULL.
func textValue(v driver.Value) (s string, ok bool, err error) {
	switch v := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return v, true, nil
	case []byte:
		return string(v), true, nil
	default:
		return "", false, fmt.Errorf("stored value has type %T, want text", v)
	}
}
