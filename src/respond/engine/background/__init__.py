"""Background runs: the job queue's order, claimed jobs, workers."""
