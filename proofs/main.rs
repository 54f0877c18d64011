//! The paper's claims as tests, one module per claim; each module's documentation states the
//! claim in words and formula, with the SPEC section and the paper's equation.

mod strategies;

mod aihf_limits;
mod aihf_stationarity;
mod btl_mle;
mod direct_estimators;
mod gradients;
mod rlhf_inconsistency;
mod self_play;
mod sft_stationarity;
mod solver_robustness;
