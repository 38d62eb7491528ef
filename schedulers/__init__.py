"""Reward schedules (MedLoc-R1 adaptive IoU threshold, fixed, step) and their state stores."""
