"""Running a correlation study: sampling, the scoring loop, the score cache and statistics."""
