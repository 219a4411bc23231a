package checkpoints

import (
	"errors"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"", "latest", false},
		{"latest", "latest", false},
		{"best", "best", false},
		{"0", "0", false},
		{"120", "120", false},
		{"-1", "", true},
		{"Best", "", true},
		{"12x", "", true},
		{"99999999999999999999", "", true},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadSelector) {
				t.Errorf("ParseSelector(%q) = %v, %v; want ErrBadSelector", tt.in, sel, err)
			}
			continue
		}
		if err != nil || sel.String() != tt.want {
			t.Errorf("ParseSelector(%q) = %v, %v; want %s", tt.in, sel, err, tt.want)
		}
	}
}
