//! Sequence-level ground truth on the Markov task (SPEC §3.2).
pub mod export;
pub mod klstudy;
pub mod score;
