package coordinator

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/fsl-project/fsl/wire"
)

// MaxSweepJobs is the most jobs one sweep may expand to.
const MaxSweepJobs = 1000

// SetExpr is one --set of a sweep: a field of JobSpec, named by its dotted
// YAML path ("optimizer.lr"), and the values it takes, as YAML scalars.
type SetExpr struct {
	Key    string
	Values []string
}

// ParseSet parses "optimizer.lr=1e-3,5e-4": a key of SpecKeys other than
// "id" (a sweep names its jobs), then one or more comma-separated values,
// each trimmed, none empty or repeated, and each of the field's type.
func ParseSet(expr string) (SetExpr, error) {
	key, list, ok := strings.Cut(expr, "=")
	if !ok {
		return SetExpr{}, fmt.Errorf("--set %q: no '=': want key=value[,value...], such as optimizer.lr=1e-3,5e-4", expr)
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return SetExpr{}, fmt.Errorf("--set %q: the key before '=' is empty: want key=value[,value...], such as optimizer.lr=1e-3,5e-4", expr)
	}
	if err := checkSweepKey(key); err != nil {
		return SetExpr{}, fmt.Errorf("--set %q: %w", expr, err)
	}
	set := SetExpr{Key: key}
	for i, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			return SetExpr{}, fmt.Errorf("--set %q: value %d of %s is empty", expr, i+1, key)
		}
		for _, prev := range set.Values {
			if prev == v {
				return SetExpr{}, fmt.Errorf("--set %q: value %s of %s is given twice", expr, v, key)
			}
		}
		// The field's type alone decides whether a value parses.
		if _, err := WithField(JobSpec{}, key, v); err != nil {
			return SetExpr{}, fmt.Errorf("--set %q: %w", expr, err)
		}
		set.Values = append(set.Values, v)
	}
	return set, nil
}

// checkSweepKey reports a key that a sweep may not vary: one that names no
// field of JobSpec, or "id".
func checkSweepKey(key string) error {
	if key == "id" {
		return errors.New("key id cannot be swept: each job's ID is --name (default: the job's ID) and its index")
	}
	var s JobSpec
	_, err := specField(reflect.ValueOf(&s).Elem(), key)
	return err
}

// SpecKeys lists the keys of SpecField, WithField and --set: the dotted
// YAML paths of JobSpec's fields ("loss", "optimizer.lr",
// "optimizer.schedule.kind"), in the order of the fields.
func SpecKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for _, f := range yamlFields(t) {
			if isBlock(f.Type) {
				walk(prefix+yamlName(f)+".", f.Type)
				continue
			}
			if f.Type.Kind() == reflect.Slice {
				continue // a list (eval.way) is no scalar to sweep: set it in the job file
			}
			keys = append(keys, prefix+yamlName(f))
		}
	}
	walk("", reflect.TypeOf(JobSpec{}))
	return keys
}

// SpecField returns the field of s that key (one of SpecKeys) names, as YAML
// writes the scalar: 0.001, 1e-05, true, 30s, proto.
func SpecField(s JobSpec, key string) (string, error) {
	v, err := specField(reflect.ValueOf(&s).Elem(), key)
	if err != nil {
		return "", err
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return "", fmt.Errorf("key %s: %w", key, err)
		}
		return string(b), nil
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits()), nil
	}
	return "", fmt.Errorf("key %s: a %s has no scalar form", key, v.Type())
}

// WithField returns s with the field that key (one of SpecKeys) names set
// from value, a YAML scalar: a string as it is; true or false; a decimal
// whole number (1e4 too); a finite number (1e-3); a duration (30s). A value
// of the wrong type is an error naming the key and the value.
func WithField(s JobSpec, key, value string) (JobSpec, error) {
	v, err := specField(reflect.ValueOf(&s).Elem(), key)
	if err != nil {
		return s, err
	}
	if err := setScalar(v, value); err != nil {
		return s, fmt.Errorf("%s=%s: %w", key, value, err)
	}
	return s, nil
}

// setScalar sets v, an addressable field, from a YAML scalar.
func setScalar(v reflect.Value, value string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(value)); err != nil {
			if v.Type() == reflect.TypeFor[Duration]() {
				return fmt.Errorf("want a duration such as 30s or 1m: %w", err)
			}
			return fmt.Errorf("want a %s: %w", v.Type().Name(), err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(value)
	case reflect.Bool:
		switch value {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			return errors.New("want true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(value, 10, v.Type().Bits())
		if err != nil {
			f, ferr := strconv.ParseFloat(value, 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 || v.OverflowInt(int64(f)) {
				return fmt.Errorf("want a whole number of %d bits", v.Type().Bits())
			}
			n = int64(f)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(value, 10, v.Type().Bits())
		if err != nil {
			f, ferr := strconv.ParseFloat(value, 64)
			if ferr != nil || f != math.Trunc(f) || f < 0 || f >= 1<<63 || v.OverflowUint(uint64(f)) {
				return fmt.Errorf("want a whole number from 0, of %d bits", v.Type().Bits())
			}
			n = uint64(f)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(value, v.Type().Bits())
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return errors.New("want a finite number, such as 0.001 or 1e-3")
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("a %s cannot be set from a scalar", v.Type())
	}
	return nil
}

// specField finds the field of spec (an addressable JobSpec) that a dotted
// YAML key names. A key that names a block (optimizer) or nothing is an
// error that lists what the key could have been.
func specField(spec reflect.Value, key string) (reflect.Value, error) {
	v, path := spec, ""
	for part := range strings.SplitSeq(key, ".") {
		if v.Kind() != reflect.Struct || !isBlock(v.Type()) {
			return reflect.Value{}, fmt.Errorf("unknown key %q: %s is a scalar (%s), with no fields", key, path, v.Type())
		}
		f, ok := fieldByYAMLName(v.Type(), part)
		if !ok {
			return reflect.Value{}, unknownKeyError(key, path, part, v.Type())
		}
		v = v.FieldByIndex(f.Index)
		path = strings.TrimPrefix(path+"."+part, ".")
	}
	if v.Kind() == reflect.Struct && isBlock(v.Type()) {
		return reflect.Value{}, fmt.Errorf("key %q is a block: name one of its fields (%s)", key, strings.Join(blockFields(path, v.Type()), ", "))
	}
	return v, nil
}

// unknownKeyError names a key with no field part in block (path "" for the
// job itself), suggests keys that end like part, and lists the block's
// fields.
func unknownKeyError(key, path, part string, block reflect.Type) error {
	var like []string
	for _, k := range SpecKeys() {
		last := k[strings.LastIndex(k, ".")+1:]
		if k != key && (strings.Contains(last, part) || strings.Contains(part, last)) {
			like = append(like, k)
		}
	}
	where := "a job"
	if path != "" {
		where = path
	}
	msg := fmt.Sprintf("unknown key %q: %s has no field %q", key, where, part)
	if len(like) > 0 && len(like) <= 5 {
		msg += "; did you mean " + strings.Join(like, " or ") + "?"
	}
	return fmt.Errorf("%s (keys are the dotted YAML names of a job file; %s has %s)", msg, where, strings.Join(blockFields(path, block), ", "))
}

// blockFields lists the fields of a block, nested blocks as "name.*".
func blockFields(path string, block reflect.Type) []string {
	prefix := ""
	if path != "" {
		prefix = path + "."
	}
	var names []string
	for _, f := range yamlFields(block) {
		name := prefix + yamlName(f)
		if isBlock(f.Type) {
			name += ".*"
		}
		names = append(names, name)
	}
	return names
}

// isBlock reports whether a field of type t is a YAML block of fields
// rather than a scalar (Duration is a scalar: it reads itself from text).
func isBlock(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// yamlFields are the exported fields of t that YAML reads.
func yamlFields(t reflect.Type) []reflect.StructField {
	var fields []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.IsExported() && yamlName(f) != "-" {
			fields = append(fields, f)
		}
	}
	return fields
}

// yamlName is the name of f in YAML: its yaml tag, or its lower-cased name.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for _, f := range yamlFields(t) {
		if yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// SweepJob is one job of a sweep.
type SweepJob struct {
	// Spec is the job's spec, defaults filled in and validated.
	Spec JobSpec
	// Params maps each swept key to this job's value of it, as SpecField
	// writes it ("seed" too when the sweep has --seeds).
	Params map[string]string
}

// ExpandSweep returns the jobs of a sweep of base: one per combination of
// the sets' values and the seeds, in order, earlier sets varying slowest and
// seeds fastest. With no seeds each job keeps base's seed (unless a set
// sweeps "seed"). A sweep of one job with no name keeps base's ID;
// otherwise job i (from 1) is name-i, i zero-padded to two digits or the
// width of the count, and name defaults to base's ID. Each job's spec has
// its defaults filled in and is validated; an error names the job and its
// values. A key swept twice, two jobs with the same spec, or more than
// MaxSweepJobs jobs are errors.
func ExpandSweep(base JobSpec, name string, seeds []uint64, sets []SetExpr) ([]SweepJob, error) {
	count := max(len(seeds), 1)
	if count > MaxSweepJobs {
		return nil, fmt.Errorf("the sweep has more than %d jobs (%s): sweep fewer values at a time", MaxSweepJobs, sweepShape(sets, seeds))
	}
	swept := map[string]bool{}
	for _, set := range sets {
		if err := checkSweepKey(set.Key); err != nil {
			return nil, fmt.Errorf("--set %s: %w", set.Key, err)
		}
		if swept[set.Key] {
			return nil, fmt.Errorf("--set %s is given twice: give all its values in one --set, comma-separated", set.Key)
		}
		if set.Key == "seed" && len(seeds) > 0 {
			return nil, errors.New("--set seed and --seeds are both given: give the seeds once")
		}
		if len(set.Values) == 0 {
			return nil, fmt.Errorf("--set %s has no values", set.Key)
		}
		swept[set.Key] = true
		count *= len(set.Values)
		if count > MaxSweepJobs {
			return nil, fmt.Errorf("the sweep has more than %d jobs (%s): sweep fewer values at a time", MaxSweepJobs, sweepShape(sets, seeds))
		}
	}

	keepID := count == 1 && name == ""
	if name == "" {
		name = base.WithDefaults().ID
	}
	width := max(2, len(strconv.Itoa(count)))
	if !keepID {
		// The longest ID is the last; letters and length are the same for all.
		if err := wire.ValidateJob(fmt.Sprintf("%s-%0*d", name, width, count)); err != nil {
			return nil, fmt.Errorf("--name %q (default: the job's ID) names the sweep's jobs: %w", name, err)
		}
	}

	jobs := make([]SweepJob, 0, count)
	bySpec := map[string]int{} // spec without its ID → index of the job
	for i := range count {
		spec, params, keys := base, map[string]string{}, []string{}
		// Mixed radix, the seeds the fastest digit.
		rest := i
		if len(seeds) > 0 {
			spec.Seed = seeds[rest%len(seeds)]
			rest /= len(seeds)
		}
		idx := make([]int, len(sets))
		for d := len(sets) - 1; d >= 0; d-- {
			idx[d] = rest % len(sets[d].Values)
			rest /= len(sets[d].Values)
		}
		for d, set := range sets {
			var err error
			if spec, err = WithField(spec, set.Key, set.Values[idx[d]]); err != nil {
				return nil, fmt.Errorf("--set %s: %w", set.Key, err)
			}
			keys = append(keys, set.Key)
		}
		if len(seeds) > 0 {
			keys = append(keys, "seed")
		}
		if !keepID {
			spec.ID = fmt.Sprintf("%s-%0*d", name, width, i+1)
		}
		spec = spec.WithDefaults()
		// After the defaults: a job's values are the ones it trains with.
		for _, k := range keys {
			v, err := SpecField(spec, k)
			if err != nil {
				return nil, err
			}
			params[k] = v
		}
		if err := spec.Validate(); err != nil {
			return nil, fmt.Errorf("sweep job %s (%s): %w", spec.ID, describeParams(keys, params), err)
		}
		same := spec
		same.ID = ""
		b, err := json.Marshal(same)
		if err != nil {
			return nil, fmt.Errorf("sweep job %s: encode spec: %w", spec.ID, err)
		}
		if j, ok := bySpec[string(b)]; ok {
			return nil, fmt.Errorf("sweep jobs %s (%s) and %s (%s) would train the same spec: drop the repeated value",
				jobs[j].Spec.ID, describeParams(keys, jobs[j].Params), spec.ID, describeParams(keys, params))
		}
		bySpec[string(b)] = len(jobs)
		jobs = append(jobs, SweepJob{Spec: spec, Params: params})
	}
	return jobs, nil
}

// describeParams writes a job's swept values in the order of keys:
// "optimizer.lr=0.001 seed=2".
func describeParams(keys []string, params map[string]string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + params[k]
	}
	if len(parts) == 0 {
		return "no swept values"
	}
	return strings.Join(parts, " ")
}

// sweepShape writes a sweep's size as a product: "optimizer.lr 10 × loss 4 ×
// seeds 30".
func sweepShape(sets []SetExpr, seeds []uint64) string {
	var parts []string
	for _, set := range sets {
		parts = append(parts, fmt.Sprintf("%s %d", set.Key, len(set.Values)))
	}
	if len(seeds) > 0 {
		parts = append(parts, fmt.Sprintf("seeds %d", len(seeds)))
	}
	return strings.Join(parts, " × ")
}
