//! Process probes: find processes by name as `killall -0` does, zombies, pidfd.
