"""Training: the lecture's data, networks, losses and trainer, its two schedules, and the run cache."""
