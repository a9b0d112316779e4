package sim

import (
	"math"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestQueueMatchesModel drives the world's event queue with random
// schedules, cancellations and steps and compares it with a sorted list.
func TestQueueMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := NewWorld(Config{Seed: 1})
		type pending struct {
			at Time
			id int // ids grow with scheduling order, like the queue's sequence
		}
		var model []pending
		var timers []Timer
		var fired []int
		schedule := func(at Time) {
			id := len(timers)
			timers = append(timers, w.At(at, "e", func() { fired = append(fired, id) }))
			model = append(model, pending{at: max(at, w.Now()), id: id})
		}
		t.Repeat(map[string]func(*rapid.T){
			"after": func(t *rapid.T) {
				d := rapid.Int64Range(-5, 100).Draw(t, "d")
				schedule(w.Now().Add(time.Duration(max(d, 0))))
			},
			"at": func(t *rapid.T) {
				schedule(Time(rapid.Int64Range(0, 300).Draw(t, "at")))
			},
			"stop": func(t *rapid.T) {
				if len(timers) == 0 {
					t.Skip("nothing scheduled")
				}
				id := rapid.IntRange(0, len(timers)-1).Draw(t, "id")
				i := slices.IndexFunc(model, func(p pending) bool { return p.id == id })
				if got, want := timers[id].Stop(), i >= 0; got != want {
					t.Fatalf("Timer(%d).Stop() = %v, want %v", id, got, want)
				}
				if i >= 0 {
					model = slices.Delete(model, i, i+1)
				}
			},
			"step": func(t *rapid.T) {
				if got, want := w.Step(), len(model) > 0; got != want {
					t.Fatalf("Step() = %v, want %v", got, want)
				}
				if len(model) == 0 {
					return
				}
				i := 0
				for j, p := range model {
					if p.at < model[i].at || (p.at == model[i].at && p.id < model[i].id) {
						i = j
					}
				}
				want := model[i]
				model = slices.Delete(model, i, i+1)
				if got := fired[len(fired)-1]; got != want.id {
					t.Fatalf("Step() ran event %d, want %d", got, want.id)
				}
				if w.Now() != want.at {
					t.Fatalf("Now() = %v after event %d, want %v", w.Now(), want.id, want.at)
				}
			},
			"": func(t *rapid.T) {
				if w.Pending() != len(model) {
					t.Fatalf("Pending() = %d, want %d", w.Pending(), len(model))
				}
			},
		})
	})
}

func TestRunUntilStopsAtDeadline(t *testing.T) {
	w := NewWorld(Config{Seed: 1})
	var ran []Time
	for _, at := range []Time{5, 10, 10, 11, 20} {
		w.At(at, "e", func() { ran = append(ran, w.Now()) })
	}
	w.RunUntil(10)
	if want := []Time{5, 10, 10}; !slices.Equal(ran, want) {
		t.Errorf("RunUntil(10) ran events at %v, want %v", ran, want)
	}
	if w.Now() != 10 {
		t.Errorf("Now() after RunUntil(10) = %v, want 10", w.Now())
	}
	w.RunUntil(15)
	if w.Now() != 15 || len(ran) != 4 {
		t.Errorf("RunUntil(15): Now() = %v, ran %d events, want 15 and 4", w.Now(), len(ran))
	}
}

func TestRunWhile(t *testing.T) {
	tests := []struct {
		name     string
		stopAt   int // cond turns false after this many events
		deadline Time
		want     bool
		wantNow  Time
	}{
		{"cond ends first", 3, 100, true, 3},
		{"deadline first", 50, 10, false, 10},
		{"queue drains", 50, 1000, false, 1000},
	}
	for _, tt := range tests {
		w := NewWorld(Config{Seed: 1})
		n := 0
		for i := 1; i <= 20; i++ {
			w.At(Time(i), "e", func() { n++ })
		}
		got := w.RunWhile(func() bool { return n < tt.stopAt }, tt.deadline)
		if got != tt.want || w.Now() != tt.wantNow {
			t.Errorf("%s: RunWhile = %v at %v, want %v at %v", tt.name, got, w.Now(), tt.want, tt.wantNow)
		}
	}
}

func TestEventLimitPanics(t *testing.T) {
	w := NewWorld(Config{Seed: 7, MaxEvents: 10})
	var tick func()
	tick = func() { w.After(time.Millisecond, "tick", tick) }
	w.After(0, "tick", tick)
	defer func() {
		e, ok := recover().(*EventLimitError)
		if !ok {
			t.Fatalf("running past MaxEvents: recovered %v, want *EventLimitError", e)
		}
		if w.Events() != 10 || e.MaxEvents != 10 || e.Seed != 7 {
			t.Errorf("EventLimitError = %+v after %d events, want MaxEvents 10, Seed 7, 10 events", e, w.Events())
		}
	}()
	w.RunUntil(Time(time.Second))
	t.Fatalf("RunUntil ran %d events past MaxEvents=10 without panicking", w.Events())
}

func TestTimeString(t *testing.T) {
	tests := []struct {
		t    Time
		want string
	}{
		{0, "0.000ms"},
		{Time(1250 * time.Microsecond), "1.250ms"},
		{Time(1250*time.Microsecond + 7), "1.250007ms"},
		{Time(3 * time.Second), "3000.000ms"},
		{-Time(time.Millisecond), "-1.000ms"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("Time(%d).String() = %q, want %q", int64(tt.t), got, tt.want)
		}
	}
}

func TestTimeAddSaturates(t *testing.T) {
	tests := []struct {
		t    Time
		d    time.Duration
		want Time
	}{
		{5, 3, 8},
		{5, -3, 2},
		{Time(1 << 62), time.Duration(1 << 62), Time(math.MaxInt64)},
		{-Time(1 << 62), -time.Duration(1<<62) - 10, Time(math.MinInt64)},
	}
	for _, tt := range tests {
		if got := tt.t.Add(tt.d); got != tt.want {
			t.Errorf("Time(%d).Add(%d) = %d, want %d", tt.t, tt.d, got, tt.want)
		}
	}
}
