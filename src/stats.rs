//! Statistics helpers (confidence intervals, paired comparisons): filled in by the studies issue.
