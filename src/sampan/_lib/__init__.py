"""Infrastructure shared by every layer, one concept a module: clock, durations, back-off, tasks."""
