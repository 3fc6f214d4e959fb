package remote

import "testing"

func TestParseDFAvail(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want int64
		ok   bool
	}{
		{"Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/sda1        102400000 51200000  46080000      53% /\n", 46080000 * 1024, true},
		{"Filesystem 1024-blocks Used Available Capacity Mounted on\nserver:/export 100 50 42 55% /mnt/with space\n", 42 * 1024, true},
		{"Filesystem 1024-blocks Used Available Capacity Mounted on\n", 0, false},
		{"Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 1 2 many 3% /\n", 0, false},
		{"", 0, false},
	} {
		got, err := parseDFAvail(tc.out)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDFAvail(%q) = %d, %v; want %d, ok %v", tc.out, got, err, tc.want, tc.ok)
		}
	}
}
