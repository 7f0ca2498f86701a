"""Reliability tests: crashes, damaged files, full disks, locks, hostile input, soak."""
