package machine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// MarshalJSON writes c in snake_case, each field under its json tag when it
// has one and else under its Go name in snake_case ("StepApplied" →
// "step_applied"), with Invalid keyed by reason name ("stale_step"), so
// /status, the status subject and --summary carry no Go field names and no
// bare enum numbers. A field added to Counters appears without more code.
func (c Counters) MarshalJSON() ([]byte, error) {
	v := reflect.ValueOf(c)
	out := make(map[string]any, v.NumField())
	for _, f := range reflect.VisibleFields(v.Type()) {
		name := jsonFieldName(f)
		if name == "" {
			continue
		}
		val := v.FieldByIndex(f.Index).Interface()
		if m, ok := val.(map[Reason]int); ok {
			named := make(map[string]int, len(m))
			for r, n := range m {
				named[ReasonKey(r)] = n
			}
			val = named
		}
		out[name] = val
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote. Reasons this build does not
// know (a newer coordinator's) are left out of Invalid; InvalidTotal still
// counts them.
func (c *Counters) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("counters: %w", err)
	}
	v := reflect.ValueOf(c).Elem()
	for _, f := range reflect.VisibleFields(v.Type()) {
		name := jsonFieldName(f)
		r, ok := raw[name]
		if name == "" || !ok {
			continue
		}
		if m, ok := v.FieldByIndex(f.Index).Addr().Interface().(*map[Reason]int); ok {
			var named map[string]int
			if err := json.Unmarshal(r, &named); err != nil {
				return fmt.Errorf("counters: %s: %w", name, err)
			}
			if named == nil { // null
				*m = nil
				continue
			}
			*m = make(map[Reason]int, len(named))
			for k, n := range named {
				if reason, ok := parseReasonKey(k); ok {
					(*m)[reason] = n
				}
			}
			continue
		}
		if err := json.Unmarshal(r, v.FieldByIndex(f.Index).Addr().Interface()); err != nil {
			return fmt.Errorf("counters: %s: %w", name, err)
		}
	}
	return nil
}

// jsonFieldName is the name f has in Counters' JSON, "" when it has none
// (unexported or tagged "-").
func jsonFieldName(f reflect.StructField) string {
	if !f.IsExported() || f.Anonymous {
		return ""
	}
	tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch tag {
	case "-":
		return ""
	case "":
		return snakeCase(f.Name)
	}
	return tag
}

// snakeCase turns a Go name into snake_case: "WorkersJoined" →
// "workers_joined", "HTTPPort" → "http_port".
func snakeCase(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		upper := c >= 'A' && c <= 'Z'
		if upper && i > 0 {
			prevLower := r[i-1] >= 'a' && r[i-1] <= 'z' || r[i-1] >= '0' && r[i-1] <= '9'
			nextLower := i+1 < len(r) && r[i+1] >= 'a' && r[i+1] <= 'z'
			if prevLower || (nextLower && r[i-1] >= 'A' && r[i-1] <= 'Z') {
				b.WriteByte('_')
			}
		}
		if upper {
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ReasonKey is r's name in snake_case, as a JSON key and label value:
// "stale step" → "stale_step", "non-finite value" → "non_finite_value".
func ReasonKey(r Reason) string { return reasonKeyReplacer.Replace(r.String()) }

var reasonKeyReplacer = strings.NewReplacer(" ", "_", "-", "_")

// parseReasonKey is reasonKey's inverse.
func parseReasonKey(k string) (Reason, bool) {
	for r := ReasonNone; r < numReasons; r++ {
		if ReasonKey(r) == k {
			return r, true
		}
	}
	return 0, false
}
