"""Judging: the claims and the tiers that hold trained curves against the lecture and the baselines."""
